-- One row per patient: lymphodepletion and the infusion that defines study day 0.
with current as ({{ current_rows('redcap_lymphodepletion_infusion') }})

select
    patient_key,
    ld_start_date,
    {{ decode_choice('ld_regimen') }} as ld_regimen,
    fludarabine_mg_m2_day,
    cyclophosphamide_mg_m2_day,
    infusion_date,
    {{ decode_choice('car_t_product') }} as car_t_product,
    car_t_dose_1e6_per_kg
from current

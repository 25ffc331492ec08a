-- One row per patient: sex and age at infusion. Identifiers never reached raw.
with current as ({{ current_rows('redcap_demographics') }})

select
    patient_key,
    site,
    {{ decode_choice('sex') }} as sex,
    consent_date,
    age_at_infusion_years
from current

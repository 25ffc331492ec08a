-- One row per patient: disease history before CAR-T (Table 1 baseline covariates).
with current as ({{ current_rows('redcap_disease_history') }})

select
    patient_key,
    diagnosis_date,
    {{ decode_choice('cytogenetics') }} as cytogenetics,
    tp53_mutated,
    prior_lines,
    prior_hsct,
    prior_hsct_date,
    relapse_post_hsct_date,
    prior_blinatumomab,
    prior_inotuzumab as prior_inotuzumab_before_apheresis,
    prior_inotuzumab_last_date
from current

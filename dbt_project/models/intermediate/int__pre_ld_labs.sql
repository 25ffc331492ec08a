-- docs/definitions.md "ALL-Hematotox score": the laboratory sample closest before lymphodepletion starts, within
-- study_parameter('pre_ld_lab_window_days'); one row per patient, none when no sample qualifies.
-- A sample dated on the LD start day is drawn before the first dose, so it qualifies.
with timeline as (select patient_key, ld_start_date from {{ ref('int__patient_timeline') }}),

labs as (select * from {{ ref('stg_redcap__laboratory') }}),

labs_in_window as (
    select
        l.*,
        {{ days_between('l.lab_date', 't.ld_start_date') }} as days_before_ld
    from labs as l
    inner join timeline as t using (patient_key)
    where {{ days_between('l.lab_date', 't.ld_start_date') }}
        between 0 and {{ study_parameter('pre_ld_lab_window_days') }}
),

ranked as (
    select
        *,
        row_number() over (partition by patient_key order by lab_date desc, instance desc) as recency
    from labs_in_window
)

select
    patient_key,
    instance,
    lab_date,
    days_before_ld,
    anc_1e9_per_l,
    platelets_1e9_per_l,
    hemoglobin_g_dl,
    crp_mg_dl,
    ldh_u_l,
    ferritin_ng_ml
from ranked
where recency = 1

-- docs/definitions.md "CAR-T expansion": one row per peripheral-blood CART-DETECT sample from the infusion
-- day on, with CAR-T/uL and % CAR+ of CD3+, beside the CART-MEMORY tube of the same draw (same
-- patient and collection date): the CD8+ CAR-T phenotype as % of CD8+ CAR-T (paper Table 3,
-- Supplementary Table 2) and SCM CD8+ CAR-negative T cells/uL (paper Figure 5B-C).
-- A table, not a view: read by two marts and a dozen tests (docs/scaling.md).
{{ config(materialized='table') }}
{% set cd8_car_t_subsets = cd8_car_t_phenotypes() %}

with blood_samples as (
    select tube_key, patient_key, collection_date, study_day, nominal_timepoint, matched_timepoint, panel_family
    from {{ ref('int__sample_timepoints') }}
    where specimen = 'peripheral blood'
),

detect_samples as (
    select * exclude (panel_family)
    from blood_samples
    where panel_family = 'CART-DETECT' and study_day >= 0
),

memory_samples as (
    select tube_key, patient_key, collection_date
    from blood_samples
    where panel_family = 'CART-MEMORY'
),

populations as (select * from {{ ref('int__sample_populations') }})

select
    d.tube_key,
    d.patient_key,
    d.collection_date,
    d.study_day,
    d.nominal_timepoint,
    d.matched_timepoint,
    c.car_t_per_ul,
    c.pct_car_of_cd3,
    m.tube_key as memory_tube_key,
    {% for subset in cd8_car_t_subsets -%}
    p.pct_{{ subset }}_of_cd8_car_t,
    {% endfor -%}
    p.car_neg_cd8_scm_per_ul,
    m.tube_key is not null as has_phenotype
from detect_samples as d
left join populations as c using (tube_key)
left join memory_samples as m using (patient_key, collection_date)
left join populations as p on p.tube_key = m.tube_key

-- docs/definitions.md "CAR-T expansion": one row per peripheral-blood CART-DETECT sample from the infusion
-- day on, with CAR-T/uL and % CAR+ of CD3+, beside the CART-MEMORY tube of the same draw (same
-- patient and collection date): the CD8+ CAR-T phenotype as % of CD8+ CAR-T (paper Table 3,
-- Supplementary Table 2) and SCM CD8+ CAR-negative T cells/uL (paper Figure 5B-C). Cells/uL and the
-- route they were computed by come from int__absolute_counts (docs/definitions.md "Absolute counts").
{% set cd8_car_t_subsets = cd8_car_t_phenotypes() %}

with blood_samples as (
    select tube_key, patient_key, collection_date, study_day, nominal_timepoint, matched_timepoint, panel_family
    from {{ ref('int__sample_timepoints') }}
    where specimen = 'peripheral blood'
),

detect_samples as (
    select tube_key, patient_key, collection_date, study_day, nominal_timepoint, matched_timepoint
    from blood_samples
    where panel_family = 'CART-DETECT' and study_day >= 0
),

memory_samples as (
    select tube_key, patient_key, collection_date
    from blood_samples
    where panel_family = 'CART-MEMORY'
),

populations as (select * from {{ ref('int__sample_populations') }}),

car_t_counts as (
    select tube_key, cells_per_ul as car_t_per_ul, route as car_t_per_ul_route
    from {{ ref('int__absolute_counts') }}
    where population = 'car_t'
),

car_neg_scm_counts as (
    select tube_key, cells_per_ul as car_neg_cd8_scm_per_ul, route as car_neg_cd8_scm_per_ul_route
    from {{ ref('int__absolute_counts') }}
    where population = 'car_neg_cd8_scm'
)

select
    d.tube_key,
    d.patient_key,
    d.collection_date,
    d.study_day,
    d.nominal_timepoint,
    d.matched_timepoint,
    a.car_t_per_ul,
    a.car_t_per_ul_route,
    c.pct_car_of_cd3,
    m.tube_key as memory_tube_key,
    {% for subset in cd8_car_t_subsets -%}
    p.pct_{{ subset }}_of_cd8_car_t,
    {% endfor -%}
    n.car_neg_cd8_scm_per_ul,
    n.car_neg_cd8_scm_per_ul_route,
    m.tube_key is not null as has_phenotype
from detect_samples as d
left join populations as c using (tube_key)
left join car_t_counts as a using (tube_key)
left join memory_samples as m using (patient_key, collection_date)
left join populations as p on p.tube_key = m.tube_key
left join car_neg_scm_counts as n on n.tube_key = m.tube_key

-- Paper Table 3 and docs/definitions.md "CAR-T expansion", one row per patient with a post-infusion sample:
-- peak (Cmax, highest CAR-T/uL in days 0..peak_last_day, the earliest on ties) at its actual day
-- (Tmax), expansion (peak > expansion_threshold_cells_per_ul), AUC_14 (linear trapezoid over the
-- samples of days auc_first_day..auc_last_day at their actual days, NULL with a reason below
-- auc_min_points), the CD8+ CAR-T phenotype of the peak draw and SCM CD8+ CAR-neg/uL at D28 and M3.
with samples as (select * from {{ ref('int__car_t_per_sample') }}),

patients as (select distinct patient_key from samples),

peak_candidates as (
    select
        *,
        row_number() over (partition by patient_key order by car_t_per_ul desc, study_day asc) as peak_rank
    from samples
    where car_t_per_ul is not null
        and study_day between 0 and {{ study_parameter('peak_last_day') }}
),

peak_samples as (select * from peak_candidates where peak_rank = 1),

auc_rule as (
    select
        cast({{ study_parameter('auc_first_day') }} as integer) as first_day,
        cast({{ study_parameter('auc_last_day') }} as integer) as last_day,
        cast({{ study_parameter('auc_min_points') }} as integer) as min_points
),

auc_trapezoids as (
    select
        s.patient_key,
        count(*) as auc_points,
        {{ trapezoid_auc('s.study_day', 's.car_t_per_ul') }} as trapezoid_auc,
        -- the points' route, or their routes joined by '+' when they differ
        {{ sorted_string_agg('s.car_t_per_ul_route', '+', distinct=true) }} as auc_route
    from samples as s
    cross join auc_rule as r
    where s.car_t_per_ul is not null and s.study_day between r.first_day and r.last_day
    group by s.patient_key
),

auc_14 as (
    select
        p.patient_key,
        case when coalesce(t.auc_points, 0) >= r.min_points then t.trapezoid_auc end as auc_14,
        case when coalesce(t.auc_points, 0) >= r.min_points then t.auc_route end as auc_14_route,
        coalesce(t.auc_points, 0) as auc_points,
        case when coalesce(t.auc_points, 0) < r.min_points then
            coalesce(t.auc_points, 0) || ' sample(s) in days ' || r.first_day || '-' || r.last_day
            || ', at least ' || r.min_points || ' required'
        end as auc_null_reason
    from patients as p
    cross join auc_rule as r
    left join auc_trapezoids as t using (patient_key)
),

-- if two draws fall in the same window, the one nearest the nominal day
car_neg_scm_by_timepoint as (
    select
        s.patient_key,
        s.matched_timepoint,
        min_by(s.car_neg_cd8_scm_per_ul, abs(s.study_day - w.nominal_day)) as car_neg_cd8_scm_per_ul,
        min_by(s.car_neg_cd8_scm_per_ul_route, abs(s.study_day - w.nominal_day)) as car_neg_cd8_scm_per_ul_route
    from samples as s
    inner join {{ ref('timepoint_windows') }} as w on w.timepoint = s.matched_timepoint
    where s.car_neg_cd8_scm_per_ul is not null
    group by s.patient_key, s.matched_timepoint
)

select
    p.patient_key,
    k.car_t_per_ul as peak_car_t_per_ul,
    k.car_t_per_ul_route as peak_car_t_per_ul_route,
    k.study_day as day_of_peak,
    k.collection_date as peak_date,
    k.pct_car_of_cd3 as pct_car_of_cd3_at_peak,
    k.car_t_per_ul > {{ study_parameter('expansion_threshold_cells_per_ul') }} as expanded,
    a.auc_14,
    a.auc_14_route,
    a.auc_points,
    a.auc_null_reason,
    coalesce(k.has_phenotype, false) as phenotype_at_peak_available,
    {% for subset in cd8_car_t_phenotypes() -%}
    k.pct_{{ subset }}_of_cd8_car_t as pct_{{ subset }}_of_cd8_car_t_at_peak,
    {% endfor -%}
    d28.car_neg_cd8_scm_per_ul as car_neg_cd8_scm_per_ul_d28,
    d28.car_neg_cd8_scm_per_ul_route as car_neg_cd8_scm_per_ul_d28_route,
    m3.car_neg_cd8_scm_per_ul as car_neg_cd8_scm_per_ul_m3,
    m3.car_neg_cd8_scm_per_ul_route as car_neg_cd8_scm_per_ul_m3_route
from patients as p
left join peak_samples as k using (patient_key)
inner join auc_14 as a using (patient_key)
left join car_neg_scm_by_timepoint as d28 on d28.patient_key = p.patient_key and d28.matched_timepoint = 'D28'
left join car_neg_scm_by_timepoint as m3 on m3.patient_key = p.patient_key and m3.matched_timepoint = 'M3'

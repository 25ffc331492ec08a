-- docs/definitions.md AUC_14: computed (and non-negative) from auc_min_points samples on; below that NULL
-- with a reason. auc_points never exceeds the samples the kinetics hold in the AUC window.
with window_samples as (
    select patient_key, count(car_t_per_ul) as samples_in_window
    from {{ ref('car_t_kinetics') }}
    where study_day between {{ study_parameter('auc_first_day') }} and {{ study_parameter('auc_last_day') }}
    group by patient_key
)

select e.patient_key, e.auc_14, e.auc_points, e.auc_null_reason
from {{ ref('car_t_expansion') }} as e
left join window_samples as w using (patient_key)
where e.auc_points <> coalesce(w.samples_in_window, 0)
    or (e.auc_points >= {{ study_parameter('auc_min_points') }}
        and (e.auc_14 is null or e.auc_14 < 0 or e.auc_null_reason is not null))
    or (e.auc_points < {{ study_parameter('auc_min_points') }}
        and (e.auc_14 is not null or e.auc_null_reason is null))

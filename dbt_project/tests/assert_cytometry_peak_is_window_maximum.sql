-- docs/definitions.md peak: day_of_peak lies in days 0..peak_last_day and no sample of that window is higher.
with window_max as (
    select patient_key, max(car_t_per_ul) as max_car_t_per_ul
    from {{ ref('car_t_kinetics') }}
    where study_day between 0 and {{ study_parameter('peak_last_day') }}
    group by patient_key
)

select e.patient_key, e.peak_car_t_per_ul, e.day_of_peak, w.max_car_t_per_ul
from {{ ref('car_t_expansion') }} as e
left join window_max as w using (patient_key)
where e.peak_car_t_per_ul is distinct from w.max_car_t_per_ul
    or e.day_of_peak not between 0 and {{ study_parameter('peak_last_day') }}

-- Every percentage of the per-sample CAR-T model lies in [0, 100].
select *
from {{ ref('int__car_t_per_sample') }}
where not (
    coalesce(pct_car_of_cd3, 0) between 0 and 100
    and coalesce(pct_naive_of_cd8_car_t, 0) between 0 and 100
    and coalesce(pct_scm_of_cd8_car_t, 0) between 0 and 100
    and coalesce(pct_cm_of_cd8_car_t, 0) between 0 and 100
    and coalesce(pct_em_of_cd8_car_t, 0) between 0 and 100
    and coalesce(pct_temra_of_cd8_car_t, 0) between 0 and 100
    and coalesce(pct_pd1_of_cd8_car_t, 0) between 0 and 100
    and coalesce(pct_lag3_of_cd8_car_t, 0) between 0 and 100
    and coalesce(pct_ki67_of_cd8_car_t, 0) between 0 and 100
    and coalesce(pct_cd71_of_cd8_car_t, 0) between 0 and 100
)

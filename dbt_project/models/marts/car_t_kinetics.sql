-- The curves behind the paper's kinetics figures (Figure 4, Supplementary Figure 5): one row per
-- patient x post-infusion CART-DETECT sample with CAR-T/uL, % CAR of CD3 and B cells/uL of that draw,
-- each cells/uL beside its route (docs/definitions.md "Absolute counts").
with car_t as (select * from {{ ref('int__car_t_per_sample') }}),

b_cells as (select tube_key, b_cells_per_ul, b_cells_per_ul_route from {{ ref('int__b_cells_per_sample') }})

select
    c.patient_key,
    c.tube_key,
    c.collection_date,
    c.study_day,
    c.nominal_timepoint,
    c.matched_timepoint,
    c.car_t_per_ul,
    c.car_t_per_ul_route,
    c.pct_car_of_cd3,
    b.b_cells_per_ul,
    b.b_cells_per_ul_route
from car_t as c
left join b_cells as b using (tube_key)

-- Cells/uL are never negative: CAR-T, SCM CD8+ CAR-neg T cells and B cells.
select tube_key, 'car_t' as population
from {{ ref('int__car_t_per_sample') }}
where car_t_per_ul < 0 or car_neg_cd8_scm_per_ul < 0
union all
select tube_key, 'b_cells' as population
from {{ ref('int__b_cells_per_sample') }}
where b_cells_per_ul < 0

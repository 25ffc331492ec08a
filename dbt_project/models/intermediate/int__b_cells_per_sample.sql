-- docs/definitions.md "B-cell aplasia": CD19+ B cells/uL of every peripheral-blood sample that measured them.
-- Samples before infusion stay (flagged) for the post-bridging B cells; BCA uses the others. Cells/uL
-- and their route come from int__absolute_counts (docs/definitions.md "Absolute counts").
with blood_samples as (
    select tube_key, patient_key, collection_date, study_day, nominal_timepoint, matched_timepoint
    from {{ ref('int__sample_timepoints') }}
    where specimen = 'peripheral blood'
),

b_cell_counts as (
    select tube_key, cells_per_ul as b_cells_per_ul, route as b_cells_per_ul_route
    from {{ ref('int__absolute_counts') }}
    where population = 'b_cells' and cells_per_ul is not null
)

select
    s.tube_key,
    s.patient_key,
    s.collection_date,
    s.study_day,
    s.nominal_timepoint,
    s.matched_timepoint,
    b.b_cells_per_ul,
    b.b_cells_per_ul_route,
    -- a patient without an infusion date has no study day and only pre-infusion samples
    coalesce(s.study_day < 0, true) as is_pre_infusion
from blood_samples as s
inner join b_cell_counts as b using (tube_key)

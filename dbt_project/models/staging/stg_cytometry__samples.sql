-- One row per FCS file: the current manifest row, its study day and the nominal timepoint it
-- matches within the timepoint_windows seed (NULL when the actual day is outside the window).
-- A table, not a view: one row per tube (1.8 M at 100,000 patients), read by two models and
-- several tests, each of which would otherwise recompute the current manifest rows.
{{ config(materialized='table') }}
with current as ({{ current_rows('cytometry_samples', 'tube_key') }}),
infusion as (select patient_key, infusion_date from {{ ref('stg_redcap__lymphodepletion_infusion') }}),
windows as (select * from {{ ref('timepoint_windows') }})

select
    s.tube_key,
    s.patient_key,
    s.specimen,
    s.collection_date,
    {{ study_day('s.collection_date', 'i.infusion_date') }} as study_day,
    s.timepoint as nominal_timepoint,
    w.timepoint as matched_timepoint,
    s.instrument,
    s.panel,
    regexp_replace(s.panel, '-v[0-9]+$', '') as panel_family,
    s.acquisition_date,
    s.bead_lot,
    s.beads_per_tube,
    s.sample_volume_ul
from current as s
left join infusion as i using (patient_key)
left join windows as w
    on w.timepoint = s.timepoint
    and {{ study_day('s.collection_date', 'i.infusion_date') }} between w.window_start and w.window_end

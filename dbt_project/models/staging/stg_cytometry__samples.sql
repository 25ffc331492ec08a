-- One row per FCS file: the current manifest row (its study day and matched timepoint:
-- int__sample_timepoints). A table, not a view: one row per tube (1.8 M at 100,000 patients),
-- read by several models and tests, each of which would otherwise recompute the current rows.
{{ config(materialized='table') }}
with current as ({{ current_rows('cytometry_samples', 'tube_key') }})

select
    tube_key,
    patient_key,
    specimen,
    collection_date,
    timepoint as nominal_timepoint,
    instrument,
    panel,
    regexp_replace(panel, '-v[0-9]+$', '') as panel_family,
    acquisition_date,
    bead_lot,
    beads_per_tube,
    sample_volume_ul
from current

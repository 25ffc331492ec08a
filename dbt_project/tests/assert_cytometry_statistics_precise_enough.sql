-- A statistic written to fewer significant figures than the study's minimum (study_parameters
-- min_significant_figures) lost precision in the lab's export: FlowJo rounds what its table shows,
-- and E-notation such as 4.4E+05 keeps two figures of a count. The value is kept as written and
-- flagged here, never "restored". Integers written in full (event counts) are exact: their
-- significant_figures is NULL (cartwh/ingest/cytometry_loader.py).
{{ config(severity='warn') }}
with current as ({{ current_rows('cytometry_population_stats', 'tube_key') }})
select tube_key, gate_path, statistic, value, significant_figures, _load_id
from current
where significant_figures < {{ study_parameter('min_significant_figures') }}

-- Statistics whose export rounded away precision, kept as written and flagged here (never
-- "restored"); significant_figures is how many figures the lab's file wrote
-- (cartwh/ingest/cytometry_loader.py; NULL for an integer written in full, which is exact).
-- - an event count written with fewer figures than it has digits lost events: FlowJo's
--   4.43E+05 for 443,012;
-- - a frequency or concentration of 10 or more written to fewer figures than the study's minimum
--   (study_parameters min_significant_figures), e.g. 1.2E+02. Below 10 the figures are the lab's
--   fixed decimals (0.042 %, 5.2 cells/uL), a display choice, not a rounding this can tell.
-- The values the models use: int__cytometry_values' chosen route.
{{ config(severity='warn') }}
select tube_key, gate_path, statistic, value, significant_figures, _load_id
from {{ ref('int__cytometry_values') }}
where
    chosen
    and not conflicting
    and (
        (statistic = 'Count' and value >= 1 and significant_figures < floor(log10(value)) + 1)
        or (statistic <> 'Count' and value >= 10 and significant_figures < {{ study_parameter('min_significant_figures') }})
    )

-- docs/definitions.md "Which cytometry values count": every current population value of every tube,
-- one row per tube, route and value (macro cytometry_values: chosen per value across the current file
-- versions, never per file; a value two current files of a route disagree on is kept, flagged
-- `conflicting`; `chosen` marks the route the models use, the lab's table first, else its gated FCS
-- file). Worked out once per build, here, and read by int__sample_populations,
-- int__gated_statistics_cross_check, int__cytometry_delivery_conflicts and the test
-- assert_cytometry_statistics_precise_enough: the raw view unpivots every export's values and spells
-- each one's significant figures from its written text (58 M values at 100,000 patients), which cost
-- minutes each time one of them read it (docs/scaling.md).
-- Incremental (macros/incremental_tubes.sql): a night reads only the tubes of file versions loaded or
-- superseded since the last build.
{{ config(
    materialized=incremental_materialization(),
    unique_key='tube_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    pre_hook="{{ delete_superseded_rows() }}"
) }}

{{ cytometry_values(where=tubes_changed_since_built()) }}

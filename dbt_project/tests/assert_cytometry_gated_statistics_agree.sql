-- docs/definitions.md "Gated FCS files": a lab's table and the counts its own gating (or the panel's
-- reviewed template) gives on the same FCS file disagree beyond the table's written precision
-- (int__gated_statistics_cross_check). The table is still used (cytometry_statistics_routes): the
-- data manager asks the laboratory which is right (a gate moved after the export, another
-- workspace, a renamed or swapped file).
{{ config(severity='warn') }}
select tube_key, gate_path, statistic, table_value, gated_value, tolerance
from {{ ref('int__gated_statistics_cross_check') }}
where not agrees

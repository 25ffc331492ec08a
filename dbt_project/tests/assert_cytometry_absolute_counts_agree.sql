-- docs/definitions.md "Absolute counts", the cross-check: a laboratory's exported absolute count and the
-- one computed from the same tube's events (beads, else dual platform) differ by more than
-- study_parameter('absolute_count_max_relative_difference'). The exported count is still used: the
-- data manager asks the laboratory which is right (a wrong bead lot, volume, blood count or unit).
{{ config(severity='warn') }}
select tube_key, population, exported_per_ul, beads_per_ul, dual_platform_per_ul, relative_difference
from {{ ref('int__absolute_counts') }}
where cross_check_failed

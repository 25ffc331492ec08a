-- docs/definitions.md "Absolute counts": one row per tube x population of absolute_count_populations()
-- that the tube counted, its cells/uL by every route available and the one used:
--   exported       the laboratory's own absolute count (its result of record), else
--   beads          population events / acquired_blood_ul (int__bead_counting_tubes), else
--   dual_platform  population events x cells_per_ul_per_event (int__dual_platform_tubes).
-- The cross-check compares an exported count with the computed one (beads, else dual platform):
-- relative_difference = |exported - computed| / the larger of the two (0 when both are 0), flagged
-- as cross_check_failed above study_parameter('absolute_count_max_relative_difference') when the two
-- are also more than study_parameter('absolute_count_min_difference_cells_per_ul') apart (a smaller
-- difference is the rounding of the export); listed by the warning test assert_cytometry_absolute_counts_agree.
with populations as (select * from {{ ref('int__sample_populations') }}),

beads as (select tube_key, acquired_blood_ul from {{ ref('int__bead_counting_tubes') }}),

dual_platform as (select tube_key, cells_per_ul_per_event from {{ ref('int__dual_platform_tubes') }}),

population_events as (
    {% for population in absolute_count_populations() -%}
    {% if not loop.first %}union all{% endif %}
    select
        tube_key,
        '{{ population }}' as population,
        {{ population }}_events as events,
        exported_{{ population }}_per_ul as exported_per_ul
    from populations
    where {{ population }}_events is not null or exported_{{ population }}_per_ul is not null
    {% endfor %}
),

routes as (
    select
        p.tube_key,
        p.population,
        p.events,
        p.exported_per_ul,
        p.events / b.acquired_blood_ul as beads_per_ul,
        p.events * d.cells_per_ul_per_event as dual_platform_per_ul
    from population_events as p
    left join beads as b using (tube_key)
    left join dual_platform as d using (tube_key)
),

chosen as (
    select
        *,
        coalesce(beads_per_ul, dual_platform_per_ul) as computed_per_ul,
        case
            when exported_per_ul is not null then 'exported'
            when beads_per_ul is not null then 'beads'
            when dual_platform_per_ul is not null then 'dual_platform'
        end as route
    from routes
),

compared as (
    select
        tube_key,
        population,
        events,
        exported_per_ul,
        beads_per_ul,
        dual_platform_per_ul,
        coalesce(exported_per_ul, beads_per_ul, dual_platform_per_ul) as cells_per_ul,
        route,
        abs(exported_per_ul - computed_per_ul) as absolute_difference,
        case
            when exported_per_ul is null or computed_per_ul is null then null
            when greatest(exported_per_ul, computed_per_ul) = 0 then 0.0
            else abs(exported_per_ul - computed_per_ul) / greatest(exported_per_ul, computed_per_ul)
        end as relative_difference
    from chosen
)

select
    *,
    relative_difference > {{ study_parameter('absolute_count_max_relative_difference') }}
    and absolute_difference > {{ study_parameter('absolute_count_min_difference_cells_per_ul') }} as cross_check_failed
from compared

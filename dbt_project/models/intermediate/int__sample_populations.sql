-- docs/definitions.md "CAR-T expansion" and "B-cell aplasia": the population values the cytometry models
-- use, one row per FCS file, pivoted from its chosen current values (int__cytometry_values: chosen
-- per value, so a tube's counts and frequencies sent in two tables are one sample; the lab's table
-- first, else its gated FCS file). A value two current files of a route disagree on is set aside
-- (NULL here; int__cytometry_delivery_conflicts names the files).
-- Incremental (docs/scaling.md, macros/incremental_tubes.sql): a night re-pivots only the samples of
-- file versions loaded or superseded since the last build, so its cost follows what landed, not the
-- registry's size. Rows whose newest version was superseded are deleted first; a sample some current
-- version still holds is rebuilt from its current values, one that no current version holds stays deleted.
{{ config(
    materialized=incremental_materialization(),
    unique_key='tube_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    pre_hook="{{ delete_superseded_rows() }}"
) }}
{% set phenotypes = cd8_car_t_phenotypes() %}

{% set changed = tubes_changed_since_built() %}

with stats as (
    select
        v.tube_key,
        v._load_id,
        v.population,
        {{ statistic_name('v.statistic') }} as statistic,
        case when not v.conflicting then v.value end as agreed_value
    from {{ ref('int__cytometry_values') }} as v
    where v.chosen{% if changed %} and {{ changed }}{% endif %}
)

-- exported_*_per_ul: the lab's own absolute count, when it sent one; *_events: the Count statistics
-- int__absolute_counts turns into cells/uL (docs/definitions.md "Absolute counts").
select
    tube_key,
    max(agreed_value) filter (where population = 'car_t' and statistic = 'pct_of_parent') as pct_car_of_cd3,
    {% for subset in phenotypes -%}
    max(agreed_value) filter (where population = 'car_t_cd8_{{ subset }}' and statistic = 'pct_of_parent')
        as pct_{{ subset }}_of_cd8_car_t,
    {% endfor -%}
    {% for population in absolute_count_populations() -%}
    max(agreed_value) filter (where population = '{{ population }}' and statistic = 'cells_per_ul')
        as exported_{{ population }}_per_ul,
    {% endfor -%}
    {% for population in absolute_count_populations() + ['lymphocytes', 'leukocytes', 'beads'] -%}
    max(agreed_value) filter (where population = '{{ population }}' and statistic = 'count') as {{ population }}_events,
    {% endfor -%}
    -- a gate path the population_dictionary seed does not know yet (a renamed gate: one seed row)
    count(*) filter (where population is null) as unknown_gate_statistics,
    max(_load_id) as _load_id
from stats
group by tube_key

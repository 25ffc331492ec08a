{# The population statistics the models use, chosen per value, never per file. A value is one
   (tube, population, statistic): the population is the gate path's in the population_dictionary
   seed (a v1 and a v2 gate name of one population are one value), the gate path itself while the
   seed does not know it (`measure`). Every current file version (raw.landed_files.superseded_by
   NULL) that delivers a value counts: labs send one tube's values in several tables (FlowJo users
   export the counts in one table-editor table and the frequencies in another). Each delivery comes
   by a route (cytometry_statistics_routes seed: the lab's table, the gated FCS file).

   cytometry_deliveries: every current row, with its measure, source, route and the route's precedence.
   cytometry_values: one row per tube, route and value: how many current rows of the route delivered
   it and whether they disagree (`conflicting`: two numbers for one value); a value delivered
   identically by several files is one value, with its newest delivery's load id (the incremental
   watermark) and the fewest significant figures any delivery wrote. Nearly every tube comes in one
   file version, whose rows are read as they are (a file gives a gate's statistic once); only the
   tubes of several are grouped per value, which keeps a full build near the cost of choosing per file.
   current_population_stats: per tube and value, the route of highest precedence that delivers it (the
   lab's table first, else its gated FCS file); `all_routes` keeps every route's, for the cross-check
   (int__gated_statistics_cross_check). A conflicting value is kept, flagged: the models set it aside
   (int__sample_populations leaves it NULL) and int__cytometry_delivery_conflicts lists each of its
   deliveries. `where` narrows the tubes read (int__sample_populations' incremental nights). #}
{% macro cytometry_deliveries(where=none) -%}
    select
        s.tube_key,
        d.population,
        s.gate_path,
        s.statistic,
        s.value,
        s.significant_figures,
        s._load_id,
        s._source_row,
        l.source,
        r.route,
        r.precedence,
        coalesce(d.population, s.gate_path) as measure
    from {{ source('raw', 'cytometry_population_stats') }} as s
    inner join {{ source('raw', 'landed_files') }} as l on s._load_id = l.load_id
    inner join {{ ref('cytometry_statistics_routes') }} as r on l.source = r.source
    left join {{ ref('population_dictionary') }} as d on s.gate_path = d.gate_path
    where l.superseded_by is null
    {%- if where %} and ({{ where }}){% endif %}
{%- endmacro %}

{% macro cytometry_values(where=none) -%}
    with delivered as ({{ cytometry_deliveries(where) }}),

    files_per_tube as (
        select
            tube_key,
            min(_load_id) = max(_load_id) as one_file
        from delivered
        group by tube_key
    )

    -- a tube one file version delivers (nearly every tube): its rows are its values, read as they are
    select
        d.tube_key,
        d.route,
        d.precedence,
        d.measure,
        d.population,
        d.gate_path,
        d.statistic,
        d.value,
        false as conflicting,
        d.significant_figures,
        1 as deliveries,
        d._load_id
    from delivered as d
    inner join files_per_tube as f on d.tube_key = f.tube_key and f.one_file
    union all
    -- a tube several deliver: one row per route and value
    select
        d.tube_key,
        d.route,
        d.precedence,
        d.measure,
        max(d.population) as population,
        min(d.gate_path) as gate_path,
        d.statistic,
        min(d.value) as value,
        min(d.value) <> max(d.value) as conflicting,
        min(d.significant_figures) as significant_figures,
        count(*) as deliveries,
        max(d._load_id) as _load_id
    from delivered as d
    inner join files_per_tube as f on d.tube_key = f.tube_key and not f.one_file
    group by d.tube_key, d.route, d.precedence, d.measure, d.statistic
{%- endmacro %}

{% macro current_population_stats(where=none, all_routes=false) -%}
    with per_route as ({{ cytometry_values(where) }})

    {%- if all_routes %}
    select * from per_route
    {%- else %},

    first_route as (
        select
            tube_key,
            measure,
            statistic,
            min(precedence) as precedence
        from per_route
        group by tube_key, measure, statistic
    )

    select per_route.*
    from per_route
    inner join first_route
        on
            per_route.tube_key = first_route.tube_key
            and per_route.measure = first_route.measure
            and per_route.statistic = first_route.statistic
            and per_route.precedence = first_route.precedence
    {%- endif %}
{%- endmacro %}

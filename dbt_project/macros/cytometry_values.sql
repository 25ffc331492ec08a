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
   watermark) and the fewest significant figures any delivery wrote; `chosen`: the route is the one of
   highest precedence that delivers the value (the lab's table first, else its gated FCS file), the
   one the models use; every route's stays for the cross-check (int__gated_statistics_cross_check).
   Nearly every tube comes in one file version, whose rows are read as they are (a file gives a gate's
   statistic once, and comes by one route, so it is the chosen one); only the tubes of several are
   grouped per value, which keeps a full build near the cost of choosing per file. A conflicting value
   is kept, flagged: the models set it aside (int__sample_populations leaves it NULL) and
   int__cytometry_delivery_conflicts lists each of its deliveries.
   The values are worked out once per build, by the model int__cytometry_values (incremental: `where`
   narrows the tubes read to those of file versions loaded or superseded since), which every model and
   test of them reads: the raw view unpivots 58 M values at 100,000 patients and spells each one's
   significant figures from its written text, too costly to repeat per reader (docs/scaling.md). #}
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
    with files_per_tube as (
        select
            tube_key,
            min(_load_id) = max(_load_id) as one_file
        from ({{ cytometry_deliveries(where) }}) as d
        group by tube_key
    ),

    -- a tube several file versions deliver: one row per route and value
    several_files as (
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
        from ({{ cytometry_deliveries(where) }}) as d
        inner join files_per_tube as f on d.tube_key = f.tube_key and not f.one_file
        group by d.tube_key, d.route, d.precedence, d.measure, d.statistic
    )

    -- a tube one file version delivers (nearly every tube): its rows are its values, read as they are,
    -- and its one route is the chosen one. The deliveries are read again rather than named once in a
    -- CTE: DuckDB may materialise a CTE read twice, 58 M rows that spill under the memory limit.
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
        d._load_id,
        true as chosen
    from ({{ cytometry_deliveries(where) }}) as d
    inner join files_per_tube as f on d.tube_key = f.tube_key and f.one_file
    union all
    select
        *,
        precedence = min(precedence) over (partition by tube_key, measure, statistic) as chosen
    from several_files
{%- endmacro %}

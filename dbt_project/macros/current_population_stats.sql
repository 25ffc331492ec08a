{# The population statistics the models use: per tube and route (cytometry_statistics_routes seed:
   the lab's table, the gated FCS file), the rows of the route's latest current load of the tube;
   then, per tube, gate path and statistic, those of the route of highest precedence that has it.
   A late re-export of one route replaces that route's rows, never the other's. `where` narrows the
   tubes read (int__sample_populations' incremental nights). `all_routes` keeps every route's rows,
   with its `route`, for the cross-check (int__gated_statistics_cross_check). #}
{% macro current_population_stats(where=none, all_routes=false) -%}
    with loaded as (
        select
            s.*,
            r.route,
            r.precedence
        from {{ source('raw', 'cytometry_population_stats') }} as s
        inner join {{ source('raw', 'landed_files') }} as l on s._load_id = l.load_id
        inner join {{ ref('cytometry_statistics_routes') }} as r on l.source = r.source
        where l.superseded_by is null
        {%- if where %} and ({{ where }}){% endif %}
    ),

    latest as (
        select
            tube_key,
            route,
            max(_load_id) as _load_id
        from loaded
        group by tube_key, route
    ),

    per_route as (
        select loaded.*
        from loaded
        inner join latest
            on loaded.tube_key = latest.tube_key and loaded.route = latest.route and loaded._load_id = latest._load_id
    )

    {%- if all_routes %}
    select * from per_route
    {%- else %},

    first_route as (
        select
            tube_key,
            gate_path,
            statistic,
            min(precedence) as precedence
        from per_route
        group by tube_key, gate_path, statistic
    )

    select per_route.*
    from per_route
    inner join first_route
        on
            per_route.tube_key = first_route.tube_key
            and per_route.gate_path = first_route.gate_path
            and per_route.statistic = first_route.statistic
            and per_route.precedence = first_route.precedence
    {%- endif %}
{%- endmacro %}

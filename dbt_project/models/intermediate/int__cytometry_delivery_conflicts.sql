-- Deliveries that two current files disagree on, set aside from every model, one row per delivery
-- (file version and row), so the data manager's report can name each file: a population statistic
-- of a tube that two files of one route give different numbers (int__cytometry_values; the lab's
-- table and the gated FCS file are compared by int__gated_statistics_cross_check instead), and a
-- tube that two manifests describe differently, such as one FCS file assigned to two patients
-- (stg_cytometry__samples.manifest_conflict). Identical deliveries are no conflict: they are used once.
{% set columns = cytometry_manifest_columns() %}
{% set conflicting_tubes %}
    tube_key in (select tube_key from {{ ref('int__cytometry_values') }} where conflicting)
{% endset %}
with conflicting_values as (
    select tube_key, route, measure, statistic from {{ ref('int__cytometry_values') }} where conflicting
),

-- each delivery of a conflicting value, read from raw for the few tubes that have one only
statistic_deliveries as (
    select
        d.source as source_name,
        d.tube_key,
        d.gate_path || ' | ' || d.statistic as item,
        cast(d.value as string) as delivered,
        d._load_id,
        d._source_row
    from ({{ cytometry_deliveries(where=conflicting_tubes) }}) as d
    inner join conflicting_values as c
        on d.tube_key = c.tube_key and d.route = c.route and d.measure = c.measure and d.statistic = c.statistic
),

manifest_rows as (
    select d.*
    from ({{ cytometry_manifest_deliveries() }}) as d
    inner join {{ ref('stg_cytometry__samples') }} as t on d.tube_key = t.tube_key and t.manifest_conflict
),

-- which of the manifest's columns its rows of the tube disagree on
differing as (
    select
        tube_key,
        {% for column in columns -%}
            count(distinct coalesce(cast({{ column }} as string), '')) > 1 as {{ column }}_differs
            {{- ',' if not loop.last }}
        {% endfor -%}
    from manifest_rows
    group by tube_key
),

manifest_deliveries as (
    select
        r.tube_key,
        r.patient_key,
        concat_ws(', ', {% for column in columns -%}
            case when f.{{ column }}_differs then '{{ column }}' end{{ ', ' if not loop.last }}
        {%- endfor %}) as item,
        concat_ws(', ', {% for column in columns -%}
            case when f.{{ column }}_differs then coalesce(cast(r.{{ column }} as string), '(empty)') end
            {{- ', ' if not loop.last }}
        {%- endfor %}) as delivered,
        r._load_id,
        r._source_row
    from manifest_rows as r
    inner join differing as f on r.tube_key = f.tube_key
)

select
    s.source_name,
    s.tube_key,
    t.patient_key,
    s.item,
    s.delivered,
    s._load_id,
    s._source_row
from statistic_deliveries as s
left join {{ ref('stg_cytometry__samples') }} as t on s.tube_key = t.tube_key
union all
select
    'cytometry_manifest' as source_name,
    tube_key,
    patient_key,
    item,
    delivered,
    _load_id,
    _source_row
from manifest_deliveries

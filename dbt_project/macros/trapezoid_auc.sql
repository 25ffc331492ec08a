{# docs/definitions.md "CAR-T expansion" (AUC_14): linear-trapezoid area under value over day, an
   aggregate over the rows of a group. Pairs with a NULL value are skipped; consecutive points
   (ordered by day, then value, so that two points of one day are taken in one order on every engine)
   are joined by straight lines and nothing is added before the first point (no day-0 anchor).
   Fewer than two points give NULL; the caller applies the minimum number of points. #}
{% macro trapezoid_auc(day, value) -%}
    {{ return(adapter.dispatch('trapezoid_auc', 'cartwh')(day, value)) }}
{%- endmacro %}

{% macro default__trapezoid_auc(day, value) -%}
    {%- set points -%}
        (list({'day': {{ day }}, 'value': {{ value }}} order by {{ day }}, {{ value }}) filter (where {{ value }} is not null))
    {%- endset -%}
    list_sum(list_transform(
        list_zip({{ points }}[2:], {{ points }}[:-2]),
        lambda pair: (pair[1].day - pair[2].day) * (pair[1].value + pair[2].value) / 2
    ))
{%- endmacro %}

{# Spark: the points sorted as structs (day, then value), each joined to the one before it by
   zip_with, the trapezoids summed left to right as DuckDB's list_sum does. #}
{% macro spark__trapezoid_auc(day, value) -%}
    {%- set points -%}
        array_sort(collect_list(named_struct('day', {{ day }}, 'value', {{ value }})) filter (where {{ value }} is not null))
    {%- endset -%}
    case when size({{ points }}) >= 2 then aggregate(
        zip_with(slice({{ points }}, 2, size({{ points }}) - 1), slice({{ points }}, 1, size({{ points }}) - 1),
                 (point, previous) -> (point.day - previous.day) * (point.value + previous.value) / 2),
        cast(0 as double),
        (area, trapezoid) -> area + trapezoid
    ) end
{%- endmacro %}

{# docs/definitions.md "CAR-T expansion" (AUC_14): linear-trapezoid area under value over day, an
   aggregate over the rows of a group. Pairs with a NULL value are skipped; consecutive points
   (ordered by day) are joined by straight lines and nothing is added before the first point (no
   day-0 anchor). Fewer than two points give NULL; the caller applies the minimum number of points. #}
{% macro trapezoid_auc(day, value) -%}
    {%- set points -%}
        (list({'day': {{ day }}, 'value': {{ value }}} order by {{ day }}) filter (where {{ value }} is not null))
    {%- endset -%}
    list_sum(list_transform(
        list_zip({{ points }}[2:], {{ points }}[:-2]),
        lambda pair: (pair[1].day - pair[2].day) * (pair[1].value + pair[2].value) / 2
    ))
{%- endmacro %}

{# The distinct (or all) non-NULL values of a group joined by separator in their sort order, of the
   rows that meet `where` if given; NULL when there are none. #}
{% macro sorted_string_agg(column, separator, distinct=false, where=none) -%}
    {{ return(adapter.dispatch('sorted_string_agg', 'cartwh')(column, separator, distinct, where)) }}
{%- endmacro %}

{% macro default__sorted_string_agg(column, separator, distinct, where) -%}
    string_agg({{ 'distinct ' if distinct }}{{ column }}, '{{ separator }}' order by {{ column }})
    {%- if where %} filter (where {{ where }}){% endif %}
{%- endmacro %}

{% macro spark__sorted_string_agg(column, separator, distinct, where) -%}
    string_agg({{ 'distinct ' if distinct }}{{ column }}, '{{ separator }}') within group (order by {{ column }})
    {%- if where %} filter (where {{ where }}){% endif %}
{%- endmacro %}

{# Whole days from start_date to end_date (negative when end_date is earlier; NULL when either is NULL),
   a bigint on every engine so a contract reads the same type. study_day and every duration in months
   are built on it. #}
{% macro days_between(start_date, end_date) -%}
    {{ return(adapter.dispatch('days_between', 'cartwh')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__days_between(start_date, end_date) -%}
    date_diff('day', {{ start_date }}, {{ end_date }})
{%- endmacro %}

{# Spark's datediff is (end, start) and returns an int. dbt's own spark__datediff refuses NULL dates,
   which the timeline has (no infusion yet). #}
{% macro spark__days_between(start_date, end_date) -%}
    cast(datediff({{ end_date }}, {{ start_date }}) as bigint)
{%- endmacro %}

{# docs/definitions.md "Timeline and study day": study day of a date = date - infusion date, in days
   (infusion = day 0). #}
{% macro study_day(date_column, infusion_column='infusion_date') -%}
    {{ days_between(infusion_column, date_column) }}
{%- endmacro %}

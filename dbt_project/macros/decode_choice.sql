{# The label of a REDCap coded value, from the data dictionary published in raw. #}
{% macro decode_choice(field, column=none) -%}
    {{ return(adapter.dispatch('decode_choice', 'cartwh')(field, column or field)) }}
{%- endmacro %}

{% macro default__decode_choice(field, column) -%}
    (select c.label from {{ source('raw', 'redcap_choices') }} as c
     where c.field_name = '{{ field }}' and c.code = {{ column }})
{%- endmacro %}

{# Spark: the field's codes as one map, looked up by the value (a code twice is an error, as the
   subquery above returns two rows). Spark 4.3 fails to plan the correlated subquery when the
   choices are a union of rows, as in dbt's unit-test fixtures. #}
{% macro spark__decode_choice(field, column) -%}
    (select map_from_entries(collect_list(struct(c.code, c.label))) from {{ source('raw', 'redcap_choices') }} as c
     where c.field_name = '{{ field }}')[{{ column }}]
{%- endmacro %}

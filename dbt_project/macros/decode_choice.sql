{# The label of a REDCap coded value, from the data dictionary published in raw. #}
{% macro decode_choice(field, column=none) -%}
    (select c.label from {{ source('raw', 'redcap_choices') }} as c
     where c.field_name = '{{ field }}' and c.code = {{ column or field }})
{%- endmacro %}

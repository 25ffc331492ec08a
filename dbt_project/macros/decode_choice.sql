{# The label of a REDCap coded value, from the data dictionary published in raw (one label per code:
   min() only makes the subquery an aggregate, which every engine decorrelates alike; Spark 4.3 fails
   on the plain correlated form inside a union, as dbt's unit tests compare rows). #}
{% macro decode_choice(field, column=none) -%}
    (select min(c.label) from {{ source('raw', 'redcap_choices') }} as c
     where c.field_name = '{{ field }}' and c.code = {{ column or field }})
{%- endmacro %}

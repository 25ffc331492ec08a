{# Layers land in schemas named exactly staging / intermediate / marts / reference, not
   <target>_<layer>, so analysts query marts.patients whatever the target. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name else target.schema }}
{%- endmacro %}

{# The populations whose cells/uL the study reports (docs/definitions.md "CAR-T expansion", "B-cell aplasia"),
   each computed by int__absolute_counts from its events by one of the routes of "Absolute counts".
   One list, so every model names the same columns. #}
{% macro absolute_count_populations() -%}
    {{ return(['car_t', 'b_cells', 'car_neg_cd8_scm']) }}
{%- endmacro %}

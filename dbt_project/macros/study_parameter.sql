{# A named reference value from the study_parameters seed, e.g. study_parameter('auc_min_points'). #}
{% macro study_parameter(name) -%}
    (select value from {{ ref('study_parameters') }} where parameter = '{{ name }}')
{%- endmacro %}

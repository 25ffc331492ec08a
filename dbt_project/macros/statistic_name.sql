{# The short name of an exported population statistic. The statistics and their spellings are the
   cytometry_statistics seed, which ingestion reads too (cartwh/contract/cytometry.py): one rule. #}
{% macro statistic_name(column) -%}
    (select min(n.name) from {{ ref('cytometry_statistics') }} as n where n.statistic = {{ column }})
{%- endmacro %}

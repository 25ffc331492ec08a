{# The short name of an exported population statistic (contract: cartwh/contract/cytometry.py). #}
{% macro statistic_name(column) -%}
    case {{ column }}
        when 'Count' then 'count'
        when 'Freq. of Parent' then 'pct_of_parent'
        when 'Freq. of Total' then 'pct_of_total'
        when 'Absolute Count (cells/µL)' then 'cells_per_ul'
    end
{%- endmacro %}

{# The phenotype of CD8+ CAR-T cells the study reports (docs/definitions.md "CAR-T expansion", paper Table 3): memory
   subsets (naive, SCM, CM, EM, TEMRA), exhaustion (PD1, LAG3), proliferation (Ki67),
   activation (CD71). One list, so every model names the same columns. #}
{% macro cd8_car_t_phenotypes() -%}
    {{ return(['naive', 'scm', 'cm', 'em', 'temra', 'pd1', 'lag3', 'ki67', 'cd71']) }}
{%- endmacro %}

{# How a model built night by night (only what landed since) is materialised: incrementally where the
   engine can delete and insert a table's rows, as a whole table where it cannot. Spark's Parquet
   tables cannot delete rows (that takes Delta or Iceberg, which a local Spark does not bring), and a
   Spark build reads the whole raw hand-over every night (cartwh/spark/handover.py) anyway. #}
{% macro incremental_materialization() -%}
    {{ return(adapter.dispatch('incremental_materialization', 'cartwh')()) }}
{%- endmacro %}

{% macro default__incremental_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__incremental_materialization() -%}
    {{ return('table') }}
{%- endmacro %}

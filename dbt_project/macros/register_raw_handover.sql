{# on-run-start: the raw layer dbt's sources read. On DuckDB it is the warehouse's own raw schema,
   written by ingestion: nothing to do. On Spark it is the Parquet hand-over ingestion exports
   before the build (cartwh/spark/handover.py, docs/data-contract.md "Raw layer handed over as
   Parquet"): each table of the contract version this project reads (var raw_contract_version),
   partitioned by source and site as its tables.json lists, registered as an external table of
   schema raw. A source the hand-over lacks stops the build before any model runs. #}
{% macro register_raw_handover() -%}
    {{ return(adapter.dispatch('register_raw_handover', 'cartwh')()) }}
{%- endmacro %}

{% macro default__register_raw_handover() -%}
{%- endmacro %}

{% macro spark__register_raw_handover() -%}
    {%- if execute -%}
        {%- set root = env_var('CARTWH_SPARK_DIR') ~ '/raw/contract_v' ~ var('raw_contract_version') -%}
        {%- set handed_over = {} -%}
        {%- for row in run_query("select `table`, partitioned_by from json.`" ~ root ~ "/tables.json`").rows -%}
            {%- do handed_over.update({row[0]: row[1]}) -%}
        {%- endfor -%}
        {%- do run_query('create schema if not exists raw') -%}
        {%- for source in graph.sources.values() if source.source_name == 'raw' -%}
            {%- if source.name not in handed_over -%}
                {{ exceptions.raise_compiler_error('raw.' ~ source.name ~ ' is not in the raw hand-over ' ~ root
                    ~ ': export the raw layer again (cartwh/spark/handover.py) before a Spark build') }}
            {%- endif -%}
            {%- do run_query('drop table if exists raw.' ~ source.name) -%}
            {%- do run_query('create table raw.' ~ source.name ~ " using parquet location '" ~ root ~ '/' ~ source.name ~ "'") -%}
            {%- if handed_over[source.name] -%}
                {%- do run_query('msck repair table raw.' ~ source.name) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

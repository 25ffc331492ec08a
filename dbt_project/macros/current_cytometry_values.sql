{# A tube's population statistics are chosen per value, not per file: labs send one tube's values
   in several tables (FlowJo users export the counts in one table editor table and the frequencies
   in another), so every current file version (raw.landed_files.superseded_by NULL) that delivers
   a value of the tube counts. A value is one (tube, population, statistic): the population is the
   gate path's in the population_dictionary seed (a v1 and a v2 gate name of one population are one
   value), the gate path itself while the seed does not know it (its `measure`).

   cytometry_deliveries: every current row, with its measure.
   cytometry_values: one row per value: how many current rows delivered it and whether they
   disagree (`conflicting`: two numbers for one value); a value delivered identically by several
   files is one value, with its newest delivery's load id (the incremental watermark) and the
   fewest significant figures any delivery wrote. Nearly every tube comes in one file version,
   whose rows are read as they are (a file names a value once: ingestion refuses a column twice);
   only the tubes of several are grouped per value, which keeps a full build near the cost of
   choosing per file.
   current_cytometry_values: the values the models use, those no two deliveries disagree on; the
   others are set aside, and int__cytometry_delivery_conflicts lists each of their deliveries.
   `where` narrows the rows read (the tubes an incremental model must rebuild). #}
{% macro cytometry_deliveries(where=none) -%}
    select
        s.tube_key,
        d.population,
        s.gate_path,
        s.statistic,
        s.value,
        s.significant_figures,
        s._load_id,
        s._source_row,
        coalesce(d.population, s.gate_path) as measure
    from {{ source('raw', 'cytometry_population_stats') }} as s
    left join {{ ref('population_dictionary') }} as d on s.gate_path = d.gate_path
    where
        s._load_id in (select load_id from {{ source('raw', 'landed_files') }} where superseded_by is null)
        {%- if where %} and ({{ where }}){% endif %}
{%- endmacro %}

{% macro cytometry_values(where=none) -%}
    with delivered as ({{ cytometry_deliveries(where) }}),

    files_per_tube as (
        select
            tube_key,
            min(_load_id) = max(_load_id) as one_file
        from delivered
        group by tube_key
    )

    -- a tube one file version delivers (nearly every tube): its rows are its values, read as they are
    select
        d.tube_key,
        d.measure,
        d.population,
        d.gate_path,
        d.statistic,
        d.value,
        false as conflicting,
        d.significant_figures,
        1 as deliveries,
        d._load_id
    from delivered as d
    inner join files_per_tube as f on d.tube_key = f.tube_key and f.one_file
    union all
    -- a tube several deliver: one row per value
    select
        d.tube_key,
        d.measure,
        max(d.population) as population,
        min(d.gate_path) as gate_path,
        d.statistic,
        min(d.value) as value,
        min(d.value) <> max(d.value) as conflicting,
        min(d.significant_figures) as significant_figures,
        count(*) as deliveries,
        max(d._load_id) as _load_id
    from delivered as d
    inner join files_per_tube as f on d.tube_key = f.tube_key and not f.one_file
    group by d.tube_key, d.measure, d.statistic
{%- endmacro %}

{% macro current_cytometry_values(where=none) -%}
    select tube_key, population, gate_path, statistic, value, significant_figures, deliveries, _load_id
    from ({{ cytometry_values(where) }}) as per_value
    where not conflicting
{%- endmacro %}

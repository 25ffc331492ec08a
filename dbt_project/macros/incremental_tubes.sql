{# The incremental cytometry models (int__cytometry_values, int__sample_populations) are keyed by tube,
   each row carrying the newest file version (raw.landed_files.load_id) it was built from (`_load_id`,
   the watermark). A night rebuilds only the tubes of file versions loaded or superseded since the
   model was last built (its highest `_load_id`), so its cost follows what landed, not the registry's
   size; a tube some current version still holds is rebuilt from its current values (dbt's
   delete+insert on tube_key).

   tubes_changed_since_built: that condition on tube_key, as a `where` for the model's query; nothing
   on a full build (every tube).
   delete_superseded_rows: the pre-hook deleting the rows built from a version superseded since, so a
   tube that no current version holds any more stays deleted (delete+insert only replaces the tubes it
   inserts). Nothing on a full build, nor on Spark (incremental_materialization: a table each night). #}
{% macro tubes_changed_since_built() -%}
    {%- if is_incremental() -%}
        {%- set built = "(select coalesce(max(_load_id), 0) from " ~ this ~ ")" -%}
        tube_key in (
            select tube_key from {{ source('raw', 'cytometry_population_stats') }}
            where _load_id > {{ built }}
                or _load_id in (select load_id from {{ source('raw', 'landed_files') }} where superseded_by > {{ built }})
        )
    {%- endif -%}
{%- endmacro %}

{% macro delete_superseded_rows() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where _load_id in (select load_id from {{ source('raw', 'landed_files') }} where superseded_by is not null)
    {%- endif -%}
{%- endmacro %}

{# What a sample manifest says about a tube (raw.cytometry_samples, besides its key and bookkeeping):
   two current manifests naming one tube agree when every one of these is the same. #}
{% macro cytometry_manifest_columns() -%}
    {{ return(['patient_key', 'sample_type', 'specimen', 'collection_date', 'timepoint', 'instrument', 'panel',
               'acquisition_date', 'bead_lot', 'beads_per_tube', 'sample_volume_ul']) }}
{%- endmacro %}

{# Every row of the current manifests (raw.landed_files.superseded_by NULL): a manifest written
   before sample_type existed lists patient samples. #}
{% macro cytometry_manifest_deliveries() -%}
    select
        tube_key,
        {% for column in cytometry_manifest_columns() if column != 'sample_type' -%}
            {{ column }},
        {% endfor -%}
        coalesce(sample_type, 'patient') as sample_type,
        _load_id,
        _source_row
    from {{ source('raw', 'cytometry_samples') }}
    where _load_id in (select load_id from {{ source('raw', 'landed_files') }} where superseded_by is null)
{%- endmacro %}

{# A manifest row's content as one text, to compare rows: every column of cytometry_manifest_columns,
   an empty value as empty text, joined by a character no value holds (the unit separator). #}
{% macro manifest_row_content() -%}
    concat_ws(chr(31), {% for column in cytometry_manifest_columns() -%}
        coalesce(cast({{ column }} as string), ''){{ ', ' if not loop.last }}
    {%- endfor %})
{%- endmacro %}

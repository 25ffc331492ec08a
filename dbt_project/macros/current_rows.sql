{# The current version of each record in a raw table. Raw keeps every export version:
   superseded file versions are dropped (raw.landed_files.superseded_by), and of the rest a
   record's rows come from the latest load that holds the record, so a late export replaces
   the main export's rows of that record (and an instance deleted in the EDC disappears). #}
{% macro current_rows(raw_table, record_key='patient_key') -%}
    select * exclude (_latest_load)
    from (
        select r.*, max(r._load_id) over (partition by {{ record_key }}) as _latest_load
        from {{ source('raw', raw_table) }} as r
        where r._load_id in (
            select load_id from {{ source('raw', 'landed_files') }} where superseded_by is null
        )
    )
    where _load_id = _latest_load
{%- endmacro %}

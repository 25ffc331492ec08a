{# The current version of each record in a raw table. Raw keeps every export version:
   superseded file versions are dropped (raw.landed_files.superseded_by), and of the rest a
   record's rows come from the latest load that holds the record, so a late export replaces
   the main export's rows of that record (and an instance deleted in the EDC disappears).
   The latest load per record is a grouped maximum joined back (a hash aggregate, several
   times faster on large tables than a window over every row). `where` narrows the records
   read, e.g. to those an incremental model must rebuild. #}
{% macro current_rows(raw_table, record_key='patient_key', where=none) -%}
    with loaded as (
        select *
        from {{ source('raw', raw_table) }}
        where _load_id in (select load_id from {{ source('raw', 'landed_files') }} where superseded_by is null)
        {%- if where %} and ({{ where }}){% endif %}
    )
    select loaded.*
    from loaded
    semi join (select {{ record_key }}, max(_load_id) as _load_id from loaded group by {{ record_key }}) as latest
        using ({{ record_key }}, _load_id)
{%- endmacro %}

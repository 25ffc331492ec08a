{# The current version of each record in a raw table. Raw keeps every export version:
   superseded file versions are dropped (raw.landed_files.superseded_by), and of the rest a
   record's rows come from the latest load that holds the record, so a late export replaces
   the main export's rows of that record (and an instance deleted in the EDC disappears).
   A REDCap record (keyed by patient_key) deleted in the EDC disappears when its newest
   tombstone (raw.redcap_deleted_records, landed from `cartwh pull`'s deletion reports) is a
   later load than its newest rows; re-created and pulled again, it comes back.
   The latest load per record is a grouped maximum joined back (a hash aggregate, several
   times faster on large tables than a window over every row). `where` narrows the records
   read, e.g. to those an incremental model must rebuild. #}
{% macro current_rows(raw_table, record_key='patient_key', where=none) -%}
    with loaded as (
        select *
        from {{ source('raw', raw_table) }}
        where _load_id in (select load_id from {{ source('raw', 'landed_files') }} where superseded_by is null)
        {%- if where %} and ({{ where }}){% endif %}
    ),

    latest as (
        select {{ record_key }}, max(_load_id) as _load_id from loaded group by {{ record_key }}
    )

    select loaded.*
    from loaded
    semi join (
        select latest.* from latest
        {%- if record_key == 'patient_key' %}
            anti join (
                select
                    patient_key,
                    max(_load_id) as deleted_at
                from {{ source('raw', 'redcap_deleted_records') }}
                where _load_id in (select load_id from {{ source('raw', 'landed_files') }} where superseded_by is null)
                group by patient_key
            ) as deleted
                on latest.patient_key = deleted.patient_key and deleted.deleted_at > latest._load_id
        {%- endif %}
    ) as undeleted using ({{ record_key }}, _load_id)
{%- endmacro %}

-- One row per FCS file (tube) the current sample manifests name. A tube listed by several current
-- manifests (a worklist sent again under another name, two months' worklists) is one tube when they
-- agree on everything they say of it (macro cytometry_manifest_columns), counted in `manifests`;
-- when they disagree (another patient, another date, ...) it is set aside: manifest_conflict, its
-- other columns NULL, and int__cytometry_delivery_conflicts names the files and rows. Only patient
-- samples that no manifest contradicts reach the patient marts (is_patient_sample); control tubes
-- (sample_type, cytometry_control_tubes seed) stay here, so their statistics are accounted for.
-- A table, not a view: one row per tube (1.8 M at 100,000 patients), read by several models and
-- tests, each of which would otherwise recompute the current rows.
{{ config(materialized='table') }}
{% set columns = cytometry_manifest_columns() %}
with current_rows as ({{ cytometry_manifest_deliveries() }}),

per_tube as (
    select
        tube_key,
        count(*) as manifests,
        {% for column in columns -%}
            min({{ column }}) as {{ column }},
        {% endfor -%}
        min({{ manifest_row_content() }}) <> max({{ manifest_row_content() }}) as manifest_conflict
    from current_rows
    group by tube_key
)

select
    tube_key,
    {% for column in columns -%}
        case when not manifest_conflict then {{ column }} end
        as {{ 'nominal_timepoint' if column == 'timepoint' else column }},
    {% endfor -%}
    case when not manifest_conflict then regexp_replace(panel, '-v[0-9]+$', '') end as panel_family,
    manifests,
    manifest_conflict,
    not manifest_conflict and sample_type = 'patient' as is_patient_sample
from per_tube

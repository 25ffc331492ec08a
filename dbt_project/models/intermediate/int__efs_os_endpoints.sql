-- docs/definitions.md "Endpoints", ADaM ADTTE-like: one row per patient x PARAMCD, time from infusion.
-- EFS: relapse, progression / no response or death, whichever comes first, else censored at last
-- contact; a consolidative HSCT is not an event, only flagged so a sensitivity analysis can censor
-- there. OS: death from any cause. CNSR 0 = event, 1 = alive / event-free at last contact.
-- cause (docs/definitions.md "Competing causes"): the competing-risk cause of an event, NULL when censored:
-- EFS 'relapse' (relapse or progression / no response) or 'death' (death without relapse: non-relapse
-- mortality), OS 'death'. marts.time_to_event unions these with the REL and BCA rows.
-- A table, as every intermediate model (dbt_project.yml); it must stay one: DuckDB 2.0 fails to bind
-- a filter on `cause` pushed through a view of it when the timeline is empty (a night of sites not
-- mapped yet: "BindBuiltinScalarFunction did not return a BoundFunctionExpression" in the
-- accepted_values test).
with timeline as (select * from {{ ref('int__patient_timeline') }}),

efs_first_event as (
    select
        *,
        least(first_relapse_date, progression_date, death_date) as efs_event_date,
        case least(first_relapse_date, progression_date, death_date)
            when first_relapse_date then 'relapse'
            when progression_date then 'progression or no response'
            when death_date then 'death'
        end as efs_event
    from timeline
),

efs as (
    select
        patient_key,
        'EFS' as paramcd,
        'Event-free survival (months from infusion)' as param,
        infusion_date as startdt,
        coalesce(efs_event_date, last_contact_date) as adt,
        case when efs_event_date is null then 1 else 0 end as cnsr,
        coalesce(efs_event, 'event-free at last contact') as evntdesc,
        case when efs_event = 'death' then 'death' when efs_event is not null then 'relapse' end as cause,
        coalesce(consolidative_hsct_date < coalesce(efs_event_date, last_contact_date), false)
            as consolidative_hsct_before_event,
        consolidative_hsct_date as hsct_date
    from efs_first_event
),

os as (
    select
        patient_key,
        'OS' as paramcd,
        'Overall survival (months from infusion)' as param,
        infusion_date as startdt,
        coalesce(death_date, last_contact_date) as adt,
        case when death_date is null then 1 else 0 end as cnsr,
        case when death_date is null then 'alive at last contact' else 'death' end as evntdesc,
        case when death_date is not null then 'death' end as cause,
        cast(null as boolean) as consolidative_hsct_before_event,
        cast(null as date) as hsct_date
    from timeline
),

endpoints as (
    select * from efs
    union all
    select * from os
)

select
    patient_key,
    paramcd,
    param,
    startdt,
    adt,
    {{ days_between('startdt', 'adt') }} / {{ study_parameter('days_per_month') }} as aval,
    cnsr,
    evntdesc,
    cause,
    consolidative_hsct_before_event,
    hsct_date
from endpoints

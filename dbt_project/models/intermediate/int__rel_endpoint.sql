-- docs/definitions.md "Endpoints" and "Competing causes": the REL rows of the ADaM-ADTTE-like table, time from
-- infusion to the first of relapse or progression (the event, CNSR 0), a consolidative HSCT in remission
-- (CNSR 2) or death without relapse (CNSR 3), else censored at last contact (CNSR 1): the CNSR codes of
-- the BCA rows. One date holding two of them counts as relapse, then HSCT, then death (as a B-cell
-- aplasia episode ends). `cause` names the ending for competing-risk analyses (NULL when censored): the
-- analysis plan decides whether a consolidative HSCT competes or censors (conventions.consolidative_hsct).
with timeline as (select * from {{ ref('int__patient_timeline') }}),

endings as (
    select
        *,
        least(first_relapse_date, progression_date, consolidative_hsct_date, death_date) as ending_date
    from timeline
),

coded as (
    select
        patient_key,
        infusion_date as startdt,
        coalesce(ending_date, last_contact_date) as adt,
        case ending_date
            when first_relapse_date then 'relapse'
            when progression_date then 'progression or no response'
            when consolidative_hsct_date then 'consolidative HSCT in remission'
            when death_date then 'death without relapse'
            else 'relapse-free at last contact'
        end as evntdesc
    from endings
)

select
    patient_key,
    'REL' as paramcd,
    'Relapse or progression (months from infusion; competing: death without relapse, consolidative HSCT)' as param,
    startdt,
    adt,
    {{ days_between('startdt', 'adt') }} / {{ study_parameter('days_per_month') }} as aval,
    case evntdesc
        when 'relapse' then 0
        when 'progression or no response' then 0
        when 'consolidative HSCT in remission' then 2
        when 'death without relapse' then 3
        else 1
    end as cnsr,
    evntdesc,
    case evntdesc
        when 'relapse' then 'relapse'
        when 'progression or no response' then 'relapse'
        when 'consolidative HSCT in remission' then 'consolidative_hsct'
        when 'death without relapse' then 'death'
    end as cause
from coded

-- One row per infused patient: the dates of the timeline of docs/definitions.md (leukapheresis -> bridging ->
-- lymphodepletion -> infusion = day 0 -> day 28 -> follow-up) and the bridging group.
-- Bridging courses are those started on/after leukapheresis and before infusion; a course dated
-- before leukapheresis is not bridging but still counts as inotuzumab before apheresis.
with infusions as (
    select patient_key, ld_start_date, infusion_date
    from {{ ref('stg_redcap__lymphodepletion_infusion') }}
    where infusion_date is not null
),

apheresis as (select patient_key, apheresis_date from {{ ref('stg_redcap__leukapheresis') }}),

courses as (select * from {{ ref('stg_redcap__bridging_therapy') }}),

bridging as (
    select
        c.patient_key,
        min(c.bt_start_date) as bt_start_date,
        max(c.bt_end_date) as bt_end_date,
        bool_or(c.is_inotuzumab) as inotuzumab_as_bridging
    from courses as c
    inner join apheresis as a using (patient_key)
    inner join infusions as i using (patient_key)
    where c.bt_start_date >= a.apheresis_date and c.bt_start_date < i.infusion_date
    group by c.patient_key
),

inotuzumab_before_apheresis as (
    select c.patient_key
    from courses as c
    inner join apheresis as a using (patient_key)
    where c.is_inotuzumab and c.bt_start_date < a.apheresis_date
    union
    select patient_key
    from {{ ref('stg_redcap__disease_history') }}
    where prior_inotuzumab_before_apheresis
),

day_28 as (
    select patient_key, d28_assessment_date, d28_response, d28_no_response
    from {{ ref('stg_redcap__response_d28') }}
),

first_events as (
    select
        patient_key,
        min(event_date) filter (where event_type = 'relapse') as first_relapse_date,
        min(event_date) filter (where event_type = 'progression') as first_progression_date,
        min(event_date) filter (where event_type = 'consolidative_hsct') as consolidative_hsct_date,
        min(event_date) filter (where event_type = 'death') as death_date
    from {{ ref('stg_redcap__follow_up_event') }}
    group by patient_key
),

follow_up as (select patient_key, last_contact_date from {{ ref('stg_redcap__follow_up_status') }})

select
    i.patient_key,
    case when b.inotuzumab_as_bridging then 'inotuzumab' else 'chemotherapy' end as bridging_group,
    ib.patient_key is not null as received_inotuzumab_before_apheresis,
    a.apheresis_date,
    b.bt_start_date,
    b.bt_end_date,
    i.ld_start_date,
    i.infusion_date,
    d.d28_assessment_date,
    d.d28_response,
    e.first_relapse_date,
    -- docs/definitions.md "Endpoints", "progression / no response": no response at day 28 is a treatment failure on the
    -- day it is assessed, unless a progression was recorded earlier.
    least(
        e.first_progression_date,
        case when d.d28_no_response then d.d28_assessment_date end
    ) as progression_date,
    e.consolidative_hsct_date,
    e.death_date,
    f.last_contact_date
from infusions as i
left join apheresis as a using (patient_key)
left join bridging as b using (patient_key)
left join inotuzumab_before_apheresis as ib using (patient_key)
left join day_28 as d using (patient_key)
left join first_events as e using (patient_key)
left join follow_up as f using (patient_key)

-- One row per follow-up event (relapse, progression, consolidative HSCT, death).
with current as ({{ current_rows('redcap_follow_up_event') }})

select
    e.patient_key,
    e.redcap_repeat_instance as instance,
    case e.event_type when '1' then 'relapse' when '2' then 'progression'
                      when '3' then 'consolidative_hsct' when '4' then 'death' end as event_type,
    e.event_date,
    case e.relapse_cd19 when '1' then 'positive' when '2' then 'negative' when '3' then 'not_assessed' end
        as relapse_cd19,
    {{ decode_choice('relapse_site', 'e.relapse_site') }} as relapse_site,
    {{ decode_choice('death_cause', 'e.death_cause') }} as death_cause
from current as e

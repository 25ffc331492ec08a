-- OS needs every death as a dated event: a patient whose follow-up status is 'Dead' must have a
-- recorded death, and one with a recorded death must not be 'Alive'. Returns the mismatches.
select t.patient_key, t.death_date, s.vital_status
from {{ ref('int__patient_timeline') }} as t
left join {{ ref('stg_redcap__follow_up_status') }} as s using (patient_key)
where (t.death_date is not null) <> s.is_dead

-- Paper Methods: relapse = marrow blasts > study_parameter('relapse_blast_threshold_pct') after
-- CR/CRi beyond day 28, or extramedullary disease. EFS takes relapse dates from the follow-up
-- form, so a marrow meeting that definition before any recorded relapse or progression means the
-- form missed one. Returns those marrows.
select m.patient_key, m.bm_date, m.blasts_pct, m.em_disease, t.first_relapse_date, t.progression_date
from {{ ref('int__marrow_by_bridging_phase') }} as m
inner join {{ ref('int__patient_timeline') }} as t using (patient_key)
inner join {{ ref('stg_redcap__response_d28') }} as r using (patient_key)
where r.d28_in_remission
    and m.bm_date > t.d28_assessment_date
    and (m.blasts_pct > {{ study_parameter('relapse_blast_threshold_pct') }} or m.em_disease)
    and coalesce(least(t.first_relapse_date, t.progression_date) <= m.bm_date, false) = false

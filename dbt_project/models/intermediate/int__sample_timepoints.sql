-- docs/definitions.md "Timeline and study day": every patient sample of stg_cytometry__samples (not a
-- control tube, nor one two manifests describe differently) with its study day and the nominal
-- timepoint it matches within the timepoint_windows seed (NULL when the actual day is outside the
-- window, or the patient has no infusion date).
with samples as (select * from {{ ref('stg_cytometry__samples') }} where is_patient_sample),
infusion as (select patient_key, infusion_date from {{ ref('stg_redcap__lymphodepletion_infusion') }}),
windows as (select * from {{ ref('timepoint_windows') }})

select
    s.tube_key,
    s.patient_key,
    s.specimen,
    s.collection_date,
    {{ study_day('s.collection_date', 'i.infusion_date') }} as study_day,
    s.nominal_timepoint,
    w.timepoint as matched_timepoint,
    s.instrument,
    s.panel,
    s.panel_family,
    s.acquisition_date
from samples as s
left join infusion as i using (patient_key)
left join windows as w
    on w.timepoint = s.nominal_timepoint
    and {{ study_day('s.collection_date', 'i.infusion_date') }} between w.window_start and w.window_end

-- docs/definitions.md "Absolute counts", dual platform: one row per peripheral-blood tube with a blood
-- count of the same day (lab_date = collection_date) in the EDC, with the cells/uL one event of the
-- tube stands for:
--   leukocyte basis: WBC (x10^9/L) x 1000 / leukocyte events (pan-leucogating, preferred), else
--   lymphocyte basis: ALC (x10^9/L) x 1000 / lymphocyte events,
-- so that cells/uL = population events x cells_per_ul_per_event (x10^9/L = 1000 cells/uL).
-- Several counts on the day: each analyte's value of the latest REDCap instance that has one.
-- No count on the day, or no reference gate in the tube: no row (and no dual_platform route).
with samples as (
    select tube_key, patient_key, collection_date
    from {{ ref('stg_cytometry__samples') }}
    where specimen = 'peripheral blood'
),

same_day_counts as (
    select
        patient_key,
        lab_date,
        max_by(wbc_1e9_per_l, instance) filter (where wbc_1e9_per_l is not null) as wbc_1e9_per_l,
        max_by(alc_1e9_per_l, instance) filter (where alc_1e9_per_l is not null) as alc_1e9_per_l
    from {{ ref('stg_redcap__laboratory') }}
    group by patient_key, lab_date
),

reference_events as (
    select tube_key, leukocytes_events, lymphocytes_events
    from {{ ref('int__sample_populations') }}
),

bases as (
    select
        s.tube_key,
        c.wbc_1e9_per_l,
        c.alc_1e9_per_l,
        e.leukocytes_events,
        e.lymphocytes_events,
        case
            when c.wbc_1e9_per_l is not null and e.leukocytes_events > 0 then 'leukocytes'
            when c.alc_1e9_per_l is not null and e.lymphocytes_events > 0 then 'lymphocytes'
        end as basis
    from samples as s
    inner join same_day_counts as c on c.patient_key = s.patient_key and c.lab_date = s.collection_date
    inner join reference_events as e using (tube_key)
)

select
    tube_key,
    basis,
    wbc_1e9_per_l,
    alc_1e9_per_l,
    leukocytes_events,
    lymphocytes_events,
    case basis
        when 'leukocytes' then wbc_1e9_per_l * 1000 / leukocytes_events
        when 'lymphocytes' then alc_1e9_per_l * 1000 / lymphocytes_events
    end as cells_per_ul_per_event
from bases
where basis is not null

-- Each marrow assessment of an infused patient placed in its phase of the bridging timeline, and
-- the last assessment of each phase flagged: the pre-BT burden is the last 'pre_bt'
-- assessment, the post-BT (pre-LD) burden the last 'post_bt' one. Dates carry no time, so a
-- marrow taken on the day a treatment starts is counted as taken before its first dose.
with timeline as (
    select patient_key, bt_start_date, bt_end_date, ld_start_date, infusion_date
    from {{ ref('int__patient_timeline') }}
),

marrow as (select * from {{ ref('stg_redcap__marrow_assessment') }}),

phased as (
    select
        m.*,
        {{ study_day('m.bm_date', 't.infusion_date') }} as study_day,
        case
            when m.bm_date > t.infusion_date then 'post_infusion'
            when m.bm_date > t.ld_start_date then 'lymphodepletion'
            when m.bm_date <= t.bt_start_date then 'pre_bt'
            when m.bm_date <= t.bt_end_date then 'during_bt'
            when m.bm_date > t.bt_end_date then 'post_bt'
            else 'unplaced'
        end as bridging_phase
    from marrow as m
    inner join timeline as t using (patient_key)
)

select
    patient_key,
    instance,
    bm_date,
    study_day,
    bridging_phase,
    row_number() over (
        partition by patient_key, bridging_phase order by bm_date desc, instance desc
    ) = 1 as is_last_of_phase,
    blasts_pct,
    mrd_status,
    mrd_undetectable,
    mrd_pct,
    mrd_lod_pct,
    bcell_precursors_pct,
    em_disease
from phased

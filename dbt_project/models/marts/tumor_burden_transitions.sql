-- Paper Table 1 "Tumor burden dynamics" (docs/definitions.md "Tumour burden and its transition" through
-- bridging): the last marrow before BT starts and the last after BT and before LD, each classed
-- high (blasts > study_parameter('htb_blast_threshold_pct')) or low (exactly 5.0 % is low), and the
-- transition between them; NULL transition when either class is missing, with what is missing.
with patients as (select patient_key from {{ ref('int__patient_timeline') }}),

burden_by_phase as (
    select
        patient_key,
        bridging_phase,
        bm_date,
        blasts_pct,
        case
            when blasts_pct > {{ study_parameter('htb_blast_threshold_pct') }} then 'high'
            when blasts_pct is not null then 'low'
        end as tumor_burden,
        mrd_undetectable,
        bcell_precursors_pct,
        em_disease
    from {{ ref('int__marrow_by_bridging_phase') }}
    where is_last_of_phase and bridging_phase in ('pre_bt', 'post_bt')
),

pre_bt as (select * from burden_by_phase where bridging_phase = 'pre_bt'),

post_bt as (select * from burden_by_phase where bridging_phase = 'post_bt')

select
    p.patient_key,
    pre.bm_date as pre_bt_marrow_date,
    pre.blasts_pct as pre_bt_blasts_pct,
    pre.tumor_burden as pre_bt_tumor_burden,
    post.bm_date as post_bt_marrow_date,
    post.blasts_pct as post_bt_blasts_pct,
    post.tumor_burden as post_bt_tumor_burden,
    pre.tumor_burden || '→' || post.tumor_burden as tumor_burden_transition,
    nullif(concat_ws(', ',
        case when pre.tumor_burden is null then 'pre_bt_blasts' end,
        case when post.tumor_burden is null then 'post_bt_blasts' end
    ), '') as transition_missing,
    post.mrd_undetectable as undetectable_mrd_pre_ld,
    post.bcell_precursors_pct as post_bt_bcell_precursors_pct,
    pre.em_disease as pre_bt_em_disease
from patients as p
left join pre_bt as pre using (patient_key)
left join post_bt as post using (patient_key)

-- One row per bone-marrow assessment (its study day: int__marrow_by_bridging_phase).
with current as ({{ current_rows('redcap_marrow_assessment') }})

select
    m.patient_key,
    m.redcap_repeat_instance as instance,
    m.bm_date,
    m.bm_blasts_pct as blasts_pct,
    {{ decode_choice('bm_mrd_status', 'm.bm_mrd_status') }} as mrd_status,
    m.bm_mrd_status = '2' as mrd_undetectable,
    m.bm_mrd_pct as mrd_pct,
    m.bm_mrd_lod_pct as mrd_lod_pct,
    m.bm_bcell_precursors_pct as bcell_precursors_pct,
    m.bm_em_disease as em_disease
from current as m

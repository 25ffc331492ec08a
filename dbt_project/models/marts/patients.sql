-- ADSL-like: one row per infused patient with every baseline covariate of paper Table 1, the
-- toxicity and response of Table 2, and the per-patient results of the other marts (Table 3,
-- BCA, EFS/OS), so an analyst answers most paper questions from this one table.
with timeline as (select * from {{ ref('int__patient_timeline') }}),
demographics as (select * from {{ ref('stg_redcap__demographics') }}),
history as (select * from {{ ref('stg_redcap__disease_history') }}),
toxicity as (select * from {{ ref('stg_redcap__toxicity') }}),
response as (select * from {{ ref('stg_redcap__response_d28') }}),
burden as (select * from {{ ref('tumor_burden_transitions') }}),
hematotox as (select * from {{ ref('hematotox_scores') }}),
pre_ld_labs as (select * from {{ ref('int__pre_ld_labs') }}),
expansion as (select * from {{ ref('car_t_expansion') }}),
bca as (select * from {{ ref('bca_episodes') }}),
endpoints as (select * from {{ ref('time_to_event') }}),

-- Table 1 "B-lymphocytes per uL peripheral blood post BT and pre-CAR-T": the last blood sample
-- after bridging and before infusion.
b_cells_post_bt as (
    select
        b.patient_key,
        max_by(b.b_cells_per_ul, b.collection_date) as b_cells_per_ul,
        max_by(b.b_cells_per_ul_route, b.collection_date) as b_cells_per_ul_route
    from {{ ref('int__b_cells_per_sample') }} as b
    inner join timeline as t using (patient_key)
    where b.is_pre_infusion and b.collection_date > t.bt_end_date
    group by b.patient_key
)

select
    t.patient_key,
    d.site,
    d.sex,
    d.age_at_infusion_years,
    t.bridging_group,
    t.received_inotuzumab_before_apheresis,
    h.cytogenetics,
    h.tp53_mutated,
    h.prior_lines,
    h.prior_hsct,
    {{ days_between('h.prior_hsct_date', 'h.relapse_post_hsct_date') }} / {{ study_parameter('days_per_month') }}
        as months_hsct_to_relapse,
    h.prior_blinatumomab,
    t.apheresis_date,
    t.bt_start_date,
    t.ld_start_date,
    t.infusion_date,
    b.pre_bt_blasts_pct,
    b.pre_bt_em_disease,
    b.pre_bt_tumor_burden,
    b.post_bt_blasts_pct,
    b.post_bt_tumor_burden,
    b.tumor_burden_transition,
    b.undetectable_mrd_pre_ld,
    b.post_bt_bcell_precursors_pct,
    pb.b_cells_per_ul as post_bt_b_cells_per_ul,
    pb.b_cells_per_ul_route as post_bt_b_cells_per_ul_route,
    l.anc_1e9_per_l as pre_ld_anc_1e9_per_l,
    l.platelets_1e9_per_l as pre_ld_platelets_1e9_per_l,
    l.hemoglobin_g_dl as pre_ld_hemoglobin_g_dl,
    l.ldh_u_l as pre_ld_ldh_u_l,
    l.crp_mg_dl as pre_ld_crp_mg_dl,
    x.hematotox_score,
    x.nair_risk_group,
    x.modified_risk_group,
    tox.crs_grade,
    tox.crs_grade > 0 as crs_any,
    -- Table 2 prints grades 1, 2 and >= 3 as separate rows
    case when tox.crs_grade >= 3 then '≥3' else cast(tox.crs_grade as string) end as crs_grade_band,
    tox.icans_grade,
    tox.icans_grade > 0 as icans_any,
    tox.iec_hs,
    tox.tocilizumab,
    tox.corticosteroids,
    tox.anakinra or tox.siltuximab as anakinra_or_siltuximab,
    r.d28_response,
    r.d28_mrd_negative,
    t.first_relapse_date is not null as relapsed,
    t.first_relapse_date,
    bca.first_relapse_cd19 as relapse_cd19,
    bca.bca_outcome,
    bca.bca_outcome <> 'persistent' as bca_lost,
    bca.duration_months as bca_duration_months,
    bca.censored as bca_censored,
    e.peak_car_t_per_ul,
    e.peak_car_t_per_ul_route,
    e.day_of_peak,
    e.pct_car_of_cd3_at_peak,
    e.expanded,
    e.auc_14,
    e.auc_points,
    e.phenotype_at_peak_available,
    {% for subset in cd8_car_t_phenotypes() -%}
    e.pct_{{ subset }}_of_cd8_car_t_at_peak,
    {% endfor -%}
    e.car_neg_cd8_scm_per_ul_d28,
    e.car_neg_cd8_scm_per_ul_m3,
    efs.aval as efs_months,
    efs.is_event as efs_event,
    os.aval as os_months,
    os.is_event as os_event
from timeline as t
left join demographics as d using (patient_key)
left join history as h using (patient_key)
left join toxicity as tox using (patient_key)
left join response as r using (patient_key)
left join burden as b using (patient_key)
left join hematotox as x using (patient_key)
left join pre_ld_labs as l using (patient_key)
left join b_cells_post_bt as pb using (patient_key)
left join expansion as e using (patient_key)
left join bca using (patient_key)
left join endpoints as efs on efs.patient_key = t.patient_key and efs.paramcd = 'EFS'
left join endpoints as os on os.patient_key = t.patient_key and os.paramcd = 'OS'

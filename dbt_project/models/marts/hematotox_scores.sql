-- Paper Table 1 "ALL Hematotox score" (docs/definitions.md "ALL-Hematotox score", Nair et al.): points per component
-- from the hematotox_bands seed for the pre-LD labs (int__pre_ld_labs) and the post-BT marrow
-- blasts, their total 0-7 and the Nair and modified risk groups from hematotox_risk_groups.
-- A component without points leaves total and groups NULL and is named, never counted as 0.
with patients as (select patient_key from {{ ref('int__patient_timeline') }}),

post_bt_marrow as (
    select patient_key, blasts_pct
    from {{ ref('int__marrow_by_bridging_phase') }}
    where is_last_of_phase and bridging_phase = 'post_bt'
),

component_values as (
    select
        p.patient_key,
        l.lab_date,
        l.platelets_1e9_per_l as platelets,
        l.anc_1e9_per_l as anc,
        l.hemoglobin_g_dl as hemoglobin,
        l.crp_mg_dl as crp,
        m.blasts_pct as marrow_blasts
    from patients as p
    left join {{ ref('int__pre_ld_labs') }} as l using (patient_key)
    left join post_bt_marrow as m using (patient_key)
),

components as (
    select patient_key, component, component_value
    from component_values
    unpivot include nulls (
        component_value for component in (platelets, anc, hemoglobin, crp, marrow_blasts)
    )
),

bands as (select * from {{ ref('hematotox_bands') }}),

component_points as (
    select c.patient_key, c.component, b.points
    from components as c
    left join bands as b
        on b.component = c.component and {{ in_band('c.component_value', 'b') }}
),

scores as (
    select
        patient_key,
        max(points) filter (where component = 'platelets') as platelets_points,
        max(points) filter (where component = 'anc') as anc_points,
        max(points) filter (where component = 'hemoglobin') as hemoglobin_points,
        max(points) filter (where component = 'crp') as crp_points,
        max(points) filter (where component = 'marrow_blasts') as marrow_blasts_points,
        {{ sorted_string_agg('component', ', ', where='points is null') }} as missing_components
    from component_points
    group by patient_key
),

totals as (
    select
        *,
        platelets_points + anc_points + hemoglobin_points + crp_points + marrow_blasts_points
            as hematotox_score
    from scores
),

risk_groups as (select * from {{ ref('hematotox_risk_groups') }})

select
    v.patient_key,
    v.lab_date,
    v.platelets as platelets_1e9_per_l,
    s.platelets_points,
    v.anc as anc_1e9_per_l,
    s.anc_points,
    v.hemoglobin as hemoglobin_g_dl,
    s.hemoglobin_points,
    v.crp as crp_mg_dl,
    s.crp_points,
    v.marrow_blasts as marrow_blasts_pct,
    s.marrow_blasts_points,
    s.hematotox_score,
    nair.risk_group as nair_risk_group,
    modified.risk_group as modified_risk_group,
    s.missing_components
from component_values as v
inner join totals as s using (patient_key)
left join risk_groups as nair
    on nair.scheme = 'nair' and s.hematotox_score between nair.min_score and nair.max_score
left join risk_groups as modified
    on modified.scheme = 'modified' and s.hematotox_score between modified.min_score and modified.max_score

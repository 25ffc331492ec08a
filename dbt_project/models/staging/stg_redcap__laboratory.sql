-- One row per laboratory sample, every analyte converted to the unit of docs/definitions.md "Units"
-- (ANC, platelets, WBC and ALC x10^9/L, Hb g/dL, CRP mg/dL) through the unit_conversions seed.
with current as ({{ current_rows('redcap_laboratory') }}),
units as (select analyte, unit_code, factor_to_standard from {{ ref('unit_conversions') }})

select
    l.patient_key,
    l.redcap_repeat_instance as instance,
    l.lab_date,
    l.anc_value * anc.factor_to_standard as anc_1e9_per_l,
    l.plt_value * plt.factor_to_standard as platelets_1e9_per_l,
    l.hb_value * hb.factor_to_standard as hemoglobin_g_dl,
    l.crp_value * crp.factor_to_standard as crp_mg_dl,
    l.ldh_value * ldh.factor_to_standard as ldh_u_l,
    l.ferritin_value * fer.factor_to_standard as ferritin_ng_ml,
    l.wbc_value * wbc.factor_to_standard as wbc_1e9_per_l,
    l.alc_value * alc.factor_to_standard as alc_1e9_per_l
from current as l
left join units as anc on anc.analyte = 'anc' and anc.unit_code = l.anc_unit
left join units as plt on plt.analyte = 'platelets' and plt.unit_code = l.plt_unit
left join units as hb on hb.analyte = 'hemoglobin' and hb.unit_code = l.hb_unit
left join units as crp on crp.analyte = 'crp' and crp.unit_code = l.crp_unit
left join units as ldh on ldh.analyte = 'ldh' and ldh.unit_code = l.ldh_unit
left join units as fer on fer.analyte = 'ferritin' and fer.unit_code = l.ferritin_unit
left join units as wbc on wbc.analyte = 'wbc' and wbc.unit_code = l.wbc_unit
left join units as alc on alc.analyte = 'alc' and alc.unit_code = l.alc_unit

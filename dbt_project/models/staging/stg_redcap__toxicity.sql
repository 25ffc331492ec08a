-- One row per patient: CRS/ICANS grades (ASTCT), IEC-HS and the anti-cytokine therapy checkboxes.
with current as ({{ current_rows('redcap_toxicity') }})

select
    patient_key,
    cast(crs_grade as integer) as crs_grade,
    crs_onset_date,
    cast(icans_grade as integer) as icans_grade,
    iec_hs,
    anticytokine___1 as tocilizumab,
    anticytokine___2 as corticosteroids,
    anticytokine___3 as anakinra,
    anticytokine___4 as siltuximab,
    tocilizumab_doses
from current

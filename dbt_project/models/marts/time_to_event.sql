-- docs/definitions.md "Endpoints": the ADaM-ADTTE-like table, one row per patient x PARAMCD (EFS, OS, REL, BCA).
-- is_event is what lifelines wants (event = 1), derived from CNSR (0 = event) in one place; cause is the
-- competing-risk cause of the ending ("Competing causes"), NULL exactly when censored at the last contact
-- or assessment (CNSR 1).
with endpoints as (
    select
        patient_key, paramcd, param, startdt, adt, aval, cnsr, evntdesc, cause,
        consolidative_hsct_before_event, hsct_date
    from {{ ref('int__efs_os_endpoints') }}
    union all
    select
        patient_key, paramcd, param, startdt, adt, aval, cnsr, evntdesc, cause,
        cast(null as boolean) as consolidative_hsct_before_event,
        cast(null as date) as hsct_date
    from {{ ref('int__rel_endpoint') }}
    union all
    select
        patient_key, paramcd, param, startdt, adt, aval, cnsr, evntdesc, cause,
        cast(null as boolean) as consolidative_hsct_before_event,
        cast(null as date) as hsct_date
    from {{ ref('int__bca_endpoint') }}
)

select
    patient_key,
    paramcd,
    param,
    startdt,
    adt,
    aval,
    cnsr,
    cnsr = 0 as is_event,
    evntdesc,
    cause,
    consolidative_hsct_before_event,
    hsct_date
from endpoints

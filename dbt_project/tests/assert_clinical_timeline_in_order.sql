-- docs/definitions.md timeline order: leukapheresis -> bridging -> LD -> infusion -> follow-up, and every
-- follow-up date between infusion and last contact. Returns the patients out of order.
-- Warn, not error: an error would make dbt skip every mart downstream, leaving the data
-- manager nothing to inspect. The blocking Great Expectations suites on marts.patients and
-- marts.time_to_event keep the statistics from running on a timeline out of order.
{{ config(severity='warn') }}
select *
from {{ ref('int__patient_timeline') }}
where bt_start_date < apheresis_date
    or bt_end_date < bt_start_date
    or ld_start_date < coalesce(bt_start_date, apheresis_date)
    or infusion_date < ld_start_date
    or last_contact_date < infusion_date
    or least(first_relapse_date, progression_date, consolidative_hsct_date, death_date) < infusion_date
    or greatest(first_relapse_date, progression_date, consolidative_hsct_date, death_date) > last_contact_date

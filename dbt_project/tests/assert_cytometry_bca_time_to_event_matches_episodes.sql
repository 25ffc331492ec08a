-- The BCA ADTTE rows restate bca_episodes: one row per episode, same dates and duration, and
-- CNSR 0 exactly for the endings counted as events (loss of BCA, relapse of any CD19 status).
with episodes as (
    select * from {{ ref('bca_episodes') }} where absolute_bca_date is not null
)

select patient_key, e.bca_outcome, t.cnsr
from episodes as e
full join {{ ref('int__bca_endpoint') }} as t using (patient_key)
where t.patient_key is null
    or e.patient_key is null
    or t.startdt <> e.absolute_bca_date
    or t.adt <> e.episode_end_date
    or abs(t.aval - e.duration_months) > 1e-9
    or (t.cnsr = 0) <> (e.bca_outcome in ('b_cell_recovery_in_remission', 'cd19_negative_relapse_during_bca',
                                          'relapse_during_bca'))

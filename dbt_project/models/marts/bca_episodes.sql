-- Paper Table 2 "B-cell aplasia (BCA) follow-up": the episodes of int__bca_episodes, as analysts
-- read them (the intermediate model is what int__bca_endpoint builds the BCA time-to-event rows on).
select
    patient_key,
    absolute_bca_date,
    loss_date,
    confirming_sample_date,
    last_b_cell_assessment_date,
    first_relapse_date,
    first_relapse_event_type,
    first_relapse_cd19,
    consolidative_hsct_date,
    death_date,
    episode_end_date,
    bca_outcome,
    duration_months,
    censored
from {{ ref('int__bca_episodes') }}

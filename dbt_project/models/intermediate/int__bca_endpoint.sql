-- docs/definitions.md "Endpoints": the BCA rows of the ADaM-ADTTE-like table (PARAMCD 'BCA'), with exactly
-- the columns of the EFS and OS rows so the three union. Time origin (startdt) is absolute BCA, as
-- the episode starts there; aval is the episode duration of int__bca_episodes in months.
-- CNSR and the event description: macros/bca_censoring.sql (0 = event: loss of BCA or relapse;
-- 1 persistent, 2 consolidative HSCT, 3 death: censored) and the competing-risk cause of the ending
-- (loss of BCA by cause, paper Table 2; NULL when persistent). The paper's "event free BCA
-- persistence" counts every ending as an event: use cnsr <> 1 for that composite.
with episodes as (
    select * from {{ ref('int__bca_episodes') }} where absolute_bca_date is not null
)

select
    patient_key,
    'BCA' as paramcd,
    'Duration of B-cell aplasia (months from absolute BCA)' as param,
    absolute_bca_date as startdt,
    episode_end_date as adt,
    duration_months as aval,
    {{ bca_coded('bca_outcome', 'cnsr') }} as cnsr,
    {{ bca_coded('bca_outcome', 'evntdesc') }} as evntdesc,
    {{ bca_coded('bca_outcome', 'cause') }} as cause
from episodes

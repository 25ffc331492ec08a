-- docs/definitions.md "Endpoints": the BCA rows of the ADaM-ADTTE-like table (PARAMCD 'BCA'), with exactly
-- the columns of the EFS and OS rows so the three union. Time origin (startdt) is absolute BCA, as
-- the episode starts there; aval is the episode duration of bca_episodes in months.
-- CNSR: 0 = event, the aplasia ends by the patient's own course: loss of BCA (B-cell recovery) or
-- relapse/progression of any CD19 status; 1 = censored, BCA persistent at the last B-cell sample;
-- 2 = censored at consolidative HSCT; 3 = censored at death. The paper's "event free BCA
-- persistence" counts every ending as an event: use cnsr <> 1 for that composite.
with episodes as (
    select * from {{ ref('bca_episodes') }} where absolute_bca_date is not null
)

select
    patient_key,
    'BCA' as paramcd,
    'Duration of B-cell aplasia (months from absolute BCA)' as param,
    absolute_bca_date as startdt,
    episode_end_date as adt,
    duration_months as aval,
    case bca_outcome
        when 'persistent' then 1
        when 'consolidative_hsct_during_bca' then 2
        when 'death_during_bca' then 3
        when 'b_cell_recovery_in_remission' then 0
        when 'cd19_negative_relapse_during_bca' then 0
        when 'relapse_during_bca' then 0
    end as cnsr,
    case bca_outcome
        when 'persistent' then 'B-cell aplasia persistent at last B-cell assessment'
        when 'b_cell_recovery_in_remission' then 'loss of B-cell aplasia (B-cell recovery in remission)'
        when 'cd19_negative_relapse_during_bca' then 'CD19-negative relapse during B-cell aplasia'
        when 'relapse_during_bca' then 'relapse during B-cell aplasia'
        when 'consolidative_hsct_during_bca' then 'consolidative HSCT during B-cell aplasia'
        when 'death_during_bca' then 'death during B-cell aplasia'
    end as evntdesc
from episodes

-- A BCA episode runs forwards: absolute BCA <= end <= loss / event dates it was chosen from,
-- loss after absolute BCA and before its confirming sample, duration >= 0, and only the
-- persistent episodes are censored.
select *
from {{ ref('bca_episodes') }}
where absolute_bca_date is not null and (
    episode_end_date < absolute_bca_date
    or duration_months < 0
    or loss_date <= absolute_bca_date
    or confirming_sample_date <= loss_date
    or episode_end_date > least(loss_date, first_relapse_date, consolidative_hsct_date, death_date)
    or (bca_outcome = 'persistent') is distinct from censored
    or (bca_outcome = 'persistent' and episode_end_date <> last_b_cell_assessment_date)
)

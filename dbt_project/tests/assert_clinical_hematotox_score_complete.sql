-- The ALL-Hematotox score is NULL exactly when a component is missing (never a silent 0), and a
-- score always carries both risk groups. Returns the inconsistent rows.
select *
from {{ ref('hematotox_scores') }}
where (hematotox_score is null) <> (missing_components is not null)
    or (hematotox_score is not null and (nair_risk_group is null or modified_risk_group is null))

-- A tumour-burden transition is NULL exactly when transition_missing says why. Returns the rows
-- where the two disagree.
select *
from {{ ref('tumor_burden_transitions') }}
where (tumor_burden_transition is null) <> (transition_missing is not null)

-- ADTTE rows: the analysis date is not before the origin, AVAL is non-negative, and CNSR = 0
-- exactly for event descriptions (lifelines' event = cnsr = 0). Returns the inconsistent rows.
select *
from {{ ref('int__efs_os_endpoints') }}
where adt < startdt
    or aval < 0
    or (cnsr = 0) <> (evntdesc in ('relapse', 'progression or no response', 'death'))

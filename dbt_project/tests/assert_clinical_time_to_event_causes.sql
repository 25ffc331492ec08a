-- docs/definitions.md "Competing causes": every ending but a censoring at the last contact or assessment
-- (CNSR 1) names its cause, and each endpoint only the causes it can end by. Returns the rows that do not.
select patient_key, paramcd, cnsr, cause
from {{ ref('time_to_event') }}
where (cause is null) <> (cnsr = 1)
    or (paramcd = 'EFS' and cause not in ('relapse', 'death'))
    or (paramcd = 'OS' and cause <> 'death')
    or (paramcd = 'REL' and cause not in ('relapse', 'consolidative_hsct', 'death'))
    or (paramcd = 'BCA' and cause not in ('b_cell_recovery', 'cd19_negative_relapse', 'relapse', 'consolidative_hsct', 'death'))

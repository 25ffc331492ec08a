with current as ({{ current_rows('redcap_response_d28') }})

select
    patient_key,
    d28_assessment_date,
    {{ decode_choice('d28_response') }} as d28_response,
    {{ decode_choice('d28_mrd') }} as d28_mrd,
    d28_mrd = '1' as d28_mrd_negative,
    -- Logic reads the codes (1 CR, 2 CRi, 3 No response), never the labels a project may reword.
    d28_response in ('1', '2') as d28_in_remission,
    d28_response = '3' as d28_no_response
from current

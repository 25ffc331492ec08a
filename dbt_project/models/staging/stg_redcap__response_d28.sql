with current as ({{ current_rows('redcap_response_d28') }})

select
    patient_key,
    d28_assessment_date,
    {{ decode_choice('d28_response') }} as d28_response,
    {{ decode_choice('d28_mrd') }} as d28_mrd,
    d28_mrd = '1' as d28_mrd_negative
from current

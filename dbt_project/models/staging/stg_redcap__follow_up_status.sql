with current as ({{ current_rows('redcap_follow_up_status') }})

select
    patient_key,
    last_contact_date,
    {{ decode_choice('vital_status') }} as vital_status
from current

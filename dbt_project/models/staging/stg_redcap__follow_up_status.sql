with current as ({{ current_rows('redcap_follow_up_status') }})

select
    patient_key,
    last_contact_date,
    {{ decode_choice('vital_status') }} as vital_status,
    vital_status = '2' as is_dead  -- code 2, Dead: logic reads the code, not the label
from current

with current as ({{ current_rows('redcap_leukapheresis') }})

select patient_key, apheresis_date, apheresis_number
from current

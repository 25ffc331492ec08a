-- One row per bridging therapy course as entered (the bridging group is derived downstream).
with current as ({{ current_rows('redcap_bridging_therapy') }})

select
    patient_key,
    redcap_repeat_instance as instance,
    {{ decode_choice('bt_agent') }} as bt_agent,
    bt_agent = '1' as is_inotuzumab,
    bt_regimen,
    bt_start_date,
    bt_end_date
from current

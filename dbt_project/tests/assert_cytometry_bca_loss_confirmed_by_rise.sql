-- docs/definitions.md loss of BCA: the loss sample is above bca_limit_cells_per_ul and the confirming
-- sample, the next one, is higher still.
with samples as (
    select patient_key, collection_date, b_cells_per_ul
    from {{ ref('int__b_cells_per_sample') }}
    where not is_pre_infusion
)

select e.patient_key, e.loss_date, loss.b_cells_per_ul as at_loss, confirming.b_cells_per_ul as at_confirmation
from {{ ref('bca_episodes') }} as e
left join samples as loss
    on loss.patient_key = e.patient_key and loss.collection_date = e.loss_date
left join samples as confirming
    on confirming.patient_key = e.patient_key and confirming.collection_date = e.confirming_sample_date
where e.loss_date is not null and not (
    loss.b_cells_per_ul > {{ study_parameter('bca_limit_cells_per_ul') }}
    and confirming.b_cells_per_ul > loss.b_cells_per_ul
    and not exists (
        select 1 from samples as s
        where s.patient_key = e.patient_key
            and s.collection_date > e.loss_date and s.collection_date < e.confirming_sample_date
    )
)

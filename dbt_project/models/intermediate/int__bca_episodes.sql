-- Paper Table 2 "B-cell aplasia (BCA) follow-up" and docs/definitions.md "B-cell aplasia", one row per
-- infused patient with post-infusion B-cell monitoring. The episode starts at absolute BCA (first
-- post-infusion sample <= bca_limit_cells_per_ul) and ends at the first of: loss of BCA (the first
-- later sample above the limit whose next sample is higher still; a rise the next sample does not
-- confirm is not loss), the first relapse or progression, consolidative HSCT, death. An event on
-- the loss date ends the episode as that event. Without either: censored at the last B-cell sample.
-- An intermediate model: both the mart bca_episodes and the BCA endpoint rows (int__bca_endpoint) read it.
with bca_limit as (select {{ study_parameter('bca_limit_cells_per_ul') }} as cells_per_ul),

post_infusion_samples as (
    select
        patient_key,
        collection_date,
        b_cells_per_ul,
        lead(collection_date) over next_sample as next_collection_date,
        lead(b_cells_per_ul) over next_sample as next_b_cells_per_ul
    from {{ ref('int__b_cells_per_sample') }}
    where not is_pre_infusion and b_cells_per_ul is not null
    window next_sample as (partition by patient_key order by collection_date)
),

monitoring as (
    select
        s.patient_key,
        min(s.collection_date) filter (where s.b_cells_per_ul <= l.cells_per_ul) as absolute_bca_date,
        max(s.collection_date) as last_b_cell_assessment_date
    from post_infusion_samples as s
    cross join bca_limit as l
    group by s.patient_key
),

-- the first confirmed rise after absolute BCA
confirmed_losses as (
    select
        s.patient_key,
        min(s.collection_date) as loss_date,
        min_by(s.next_collection_date, s.collection_date) as confirming_sample_date
    from post_infusion_samples as s
    inner join monitoring as m using (patient_key)
    cross join bca_limit as l
    where s.collection_date > m.absolute_bca_date
        and s.b_cells_per_ul > l.cells_per_ul
        and s.next_b_cells_per_ul > s.b_cells_per_ul
    group by s.patient_key
),

competing_events as (
    select
        m.patient_key,
        min(e.event_date) filter (where e.event_type in ('relapse', 'progression')) as first_relapse_date,
        min_by(e.event_type, e.event_date) filter (where e.event_type in ('relapse', 'progression'))
            as first_relapse_event_type,
        min_by(e.relapse_cd19, e.event_date) filter (where e.event_type in ('relapse', 'progression'))
            as first_relapse_cd19,
        min(e.event_date) filter (where e.event_type = 'consolidative_hsct') as consolidative_hsct_date,
        min(e.event_date) filter (where e.event_type = 'death') as death_date
    from monitoring as m
    inner join {{ ref('stg_redcap__follow_up_event') }} as e
        on e.patient_key = m.patient_key and e.event_date >= m.absolute_bca_date
    group by m.patient_key
),

episodes as (
    select
        m.*,
        l.loss_date,
        l.confirming_sample_date,
        e.first_relapse_date,
        e.first_relapse_event_type,
        e.first_relapse_cd19,
        e.consolidative_hsct_date,
        e.death_date,
        least(e.first_relapse_date, e.consolidative_hsct_date, e.death_date) as first_event_date
    from monitoring as m
    left join confirmed_losses as l using (patient_key)
    left join competing_events as e using (patient_key)
),

endings as (
    select
        *,
        case
            when absolute_bca_date is null then 'absolute_bca_not_reached'
            when first_event_date <= coalesce(loss_date, first_event_date) then
                case first_event_date
                    when first_relapse_date then
                        case when first_relapse_cd19 = 'negative' then 'cd19_negative_relapse_during_bca'
                             else 'relapse_during_bca' end
                    when consolidative_hsct_date then 'consolidative_hsct_during_bca'
                    else 'death_during_bca'
                end
            when loss_date is not null then 'b_cell_recovery_in_remission'
            else 'persistent'
        end as bca_outcome,
        case when absolute_bca_date is not null
            then coalesce(least(loss_date, first_event_date), last_b_cell_assessment_date)
        end as episode_end_date
    from episodes
)

select
    patient_key,
    absolute_bca_date,
    loss_date,
    confirming_sample_date,
    last_b_cell_assessment_date,
    first_relapse_date,
    first_relapse_event_type,
    first_relapse_cd19,
    consolidative_hsct_date,
    death_date,
    episode_end_date,
    bca_outcome,
    {{ days_between('absolute_bca_date', 'episode_end_date') }} / {{ study_parameter('days_per_month') }} as duration_months,
    case when absolute_bca_date is not null then bca_outcome = 'persistent' end as censored
from endings

-- docs/definitions.md "Gated FCS files", the cross-check: one row per tube, population and statistic
-- that both the lab's table and its gated FCS file give (int__cytometry_values, every route; a
-- value a route's own files disagree on is set aside, int__cytometry_delivery_conflicts), with both
-- values and whether they agree to the precision the table wrote them in:
--   an event count written in full (significant_figures NULL) exactly;
--   a number written to n significant figures within half a unit of its last figure
--   (4.43E+05 for 443,012: within 500; 12.35 %: within 0.005);
--   any other number written without a decimal point or exponent (45 %) within 0.5.
-- Listed where they disagree by the warning test assert_cytometry_gated_statistics_agree.
with gated as (
    select tube_key, measure, statistic, value
    from {{ ref('int__cytometry_values') }}
    where route = 'gated' and not conflicting
),

lab_table as (
    select tube_key, measure, gate_path, statistic, value, significant_figures
    from {{ ref('int__cytometry_values') }}
    where route = 'table' and not conflicting
),

paired as (
    select
        t.tube_key,
        t.gate_path,
        t.statistic,
        t.value as table_value,
        g.value as gated_value,
        t.significant_figures,
        case
            when t.significant_figures is not null
                then 0.5 * power(10, floor(log10(abs(t.value))) - t.significant_figures + 1)
            when t.statistic = 'Count' then 0.0
            else 0.5
        end as tolerance
    from lab_table as t
    inner join gated as g
        on t.tube_key = g.tube_key and t.measure = g.measure and t.statistic = g.statistic
)

select
    *,
    abs(table_value - gated_value) <= tolerance as agrees
from paired

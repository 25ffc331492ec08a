-- One row per FCS file x population x statistic, gate paths mapped to canonical populations
-- by the population_dictionary seed (a renamed gate in a new panel version is one seed row).
with current as ({{ current_rows('cytometry_population_stats', 'fcs_file') }}),
dictionary as (select * from {{ ref('population_dictionary') }})

select
    s.fcs_file,
    s.gate_path,
    d.population,
    case s.statistic
        when 'Count' then 'count'
        when 'Freq. of Parent' then 'pct_of_parent'
        when 'Freq. of Total' then 'pct_of_total'
        when 'Absolute Count (cells/µL)' then 'cells_per_ul'
    end as statistic,
    s.value
from current as s
left join dictionary as d using (gate_path)

-- One row per FCS file x population x statistic, gate paths mapped to canonical populations
-- by the population_dictionary seed (a renamed gate in a new panel version is one seed row).
with current as ({{ current_rows('cytometry_population_stats', 'tube_key') }}),
dictionary as (select * from {{ ref('population_dictionary') }})

select
    s.tube_key,
    s.gate_path,
    d.population,
    {{ statistic_name('s.statistic') }} as statistic,
    s.value,
    s._load_id
from current as s
left join dictionary as d using (gate_path)

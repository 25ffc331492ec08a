-- Every exported gate path maps to a canonical population (population_dictionary seed). A gate
-- renamed in a new panel version is one seed row; until it is added its values are not used.
{{ config(severity='warn') }}
select tube_key, unknown_gate_statistics
from {{ ref('int__sample_populations') }}
where unknown_gate_statistics > 0

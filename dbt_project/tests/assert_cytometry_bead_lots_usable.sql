-- docs/definitions.md "Absolute counts": a tube whose Beads gate counted beads but whose lot count or
-- volume is unknown (a lot missing from the bead_lots seed and the manifest), or whose lot had expired
-- when it was acquired. The first has no beads route (dual platform, if any, is used instead);
-- the second is computed but its certified bead count is not to be trusted.
{{ config(severity='warn') }}
select tube_key, bead_lot, beads_per_tube, sample_volume_ul, lot_expired
from {{ ref('int__bead_counting_tubes') }}
where beads_per_tube is null or sample_volume_ul is null or lot_expired

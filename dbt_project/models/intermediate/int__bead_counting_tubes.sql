-- docs/definitions.md "Absolute counts", single-platform bead counting: one row per tube whose
-- Beads gate counted beads, with the volume of blood its events were acquired from,
--   acquired_blood_ul = bead events / beads per tube x sample volume (uL),
-- so that cells/uL = cell events / acquired_blood_ul. Beads per tube and the volume come from
-- the manifest, else from the bead_lots seed by the tube's lot; without either the tube has no
-- acquired volume (and no beads route).
with samples as (
    select tube_key, acquisition_date, bead_lot, beads_per_tube, sample_volume_ul
    from {{ ref('stg_cytometry__samples') }}
),

bead_events as (
    select tube_key, beads_events
    from {{ ref('int__sample_populations') }}
    where beads_events is not null
),

lots as (select * from {{ ref('bead_lots') }}),

inputs as (
    select
        b.tube_key,
        b.beads_events,
        s.bead_lot,
        coalesce(s.beads_per_tube, l.beads_per_tube) as beads_per_tube,
        coalesce(s.sample_volume_ul, l.sample_volume_ul) as sample_volume_ul,
        -- an expired lot's beads may have settled or clumped: its certified count is not trusted
        coalesce(s.acquisition_date > l.expiry, false) as lot_expired
    from bead_events as b
    inner join samples as s using (tube_key)
    left join lots as l on l.lot = s.bead_lot
)

select
    tube_key,
    beads_events,
    bead_lot,
    beads_per_tube,
    sample_volume_ul,
    lot_expired,
    -- no bead counted: the volume is unknown, not zero
    case when beads_events > 0 then beads_events / beads_per_tube * sample_volume_ul end as acquired_blood_ul
from inputs

-- Every value of every Hematotox component falls in exactly one band: probe the band edges and
-- points between them; returns the probes that match no band or several.
with bands as (select * from {{ ref('hematotox_bands') }}),

edges as (
    select component, lower as edge from bands where lower is not null
    union
    select component, upper as edge from bands where upper is not null
),

offsets as (
    select -0.001 as delta
    union all
    select 0.0
    union all
    select 0.001
),

probes as (
    select edges.component, edges.edge + offsets.delta as probe
    from edges cross join offsets
    union
    select distinct component, -1e6 as probe from bands
    union
    select distinct component, 1e6 as probe from bands
)

select p.component, p.probe, count(b.points) as matching_bands
from probes as p
left join bands as b
    on b.component = p.component and {{ in_band('p.probe', 'b') }}
group by p.component, p.probe
having count(b.points) <> 1

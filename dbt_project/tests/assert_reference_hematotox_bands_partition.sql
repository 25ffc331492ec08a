-- Every value of every Hematotox component falls in exactly one band: probe the band edges and
-- points between them; returns the probes that match no band or several.
with bands as (select * from {{ ref('hematotox_bands') }}),
edges as (
    select component, lower as edge from bands where lower is not null
    union select component, upper from bands where upper is not null
),
probes as (
    select component, edge + delta as value
    from edges cross join (values (-0.001), (0.0), (0.001)) as d(delta)
    union select distinct component, -1e6 from bands
    union select distinct component, 1e6 from bands
)

select p.component, p.value, count(b.points) as matching_bands
from probes as p
left join bands as b
    on b.component = p.component and {{ in_band('p.value', 'b') }}
group by p.component, p.value
having count(b.points) <> 1

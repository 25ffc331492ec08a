-- Deliveries two current files disagree on (int__cytometry_delivery_conflicts), one row per
-- conflict: a tube's statistic with two numbers, or a tube two manifests describe differently
-- (one FCS file assigned to two patients). Every delivery of it is set aside from the marts until
-- the lab corrects one of the files and exports it again; the data manager's report names the files
-- and rows.
{{ config(severity='warn') }}
select
    source_name,
    item,
    count(*) as deliveries,
    count(distinct _load_id) as files
from {{ ref('int__cytometry_delivery_conflicts') }}
group by source_name, tube_key, item

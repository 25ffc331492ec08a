"""The last step of a run: record its summary and publish the warehouse for analysts. It is
downstream of the study report, so a failed blocking check (or any failed step) means it does
not run and the published copy stays as it was. (No `from __future__ import annotations`:
Dagster reads the annotations at definition time.)"""

from pathlib import Path

import dagster as dg

from assets.resources import Warehouse
from cartwh.night.nothing_new import TAG
from cartwh.night.nothing_new import record as record_inputs
from cartwh.night.run_events import summarize_run
from cartwh.night.run_history import record_run
from cartwh.quality.quality_report import store_root_causes
from cartwh.warehouse.publish import publish


@dg.asset(
    key=["published", "warehouse"],
    deps=[dg.AssetKey(["reports", "study_report"])],
    group_name="published",
    kinds={"duckdb"},
)
def published_warehouse(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """The analysts' copy of the warehouse, replaced atomically (cartwh.warehouse.publish)."""
    summary = summarize_run(context.instance, context.run_id, status="published")
    with warehouse.get_connection() as con:
        record_run(con, summary)
        store_root_causes(con)  # the analysts' de-identified root-cause groups, in the copy
        path = publish(con, Path(warehouse.published))
    if TAG in context.run.tags:  # the next night with the same inputs has nothing to do
        record_inputs(Path(warehouse.database), context.run.tags[TAG], context.run.run_id)
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(str(path)), "checks_passed": summary.checks_passed}
    )

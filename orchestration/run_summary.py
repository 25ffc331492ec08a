"""A failed or blocked daemon run recorded in ops.run_history (the summary and the run's own
record as it opens and closes: cartwh/run_events.py)."""

from __future__ import annotations

import dagster as dg
import duckdb

from cartwh import run_marker, settings
from cartwh.locking import writer_lock
from cartwh.nights import leave_unpublished_marker
from cartwh.run_events import summarize_run
from cartwh.run_history import is_recorded
from cartwh.warehouse import connect


def record_failure(instance: dg.DagsterInstance, run_id: str) -> None:
    """A failed or blocked run of the daemon still belongs in ops.run_history: the run normally
    recorded itself as it closed; if it did not get that far, record it here. Until a later run
    publishes, the marker beside the published copy tells analysts about it (cartwh/nights.py)."""
    summary = summarize_run(instance, run_id, status="failed")
    with writer_lock(settings.warehouse_path()):
        try:
            con = connect(settings.warehouse_path())
            try:
                recorded = is_recorded(con, run_id)
            finally:
                con.close()
        except duckdb.Error:
            recorded = False
        if not recorded:
            run_marker.record_or_defer(settings.warehouse_path(), summary)
    leave_unpublished_marker(settings.published_path(), summary)  # what analysts can read of this night

"""A run's summary from Dagster's event log: step durations and check outcomes."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg

from cartwh import settings
from cartwh.ingest.warehouse import connect
from cartwh.locking import writer_lock
from cartwh.nights import leave_unpublished_marker
from cartwh.run_history import RunSummary, record_run

_ENDS = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).replace(tzinfo=None)


def summarize_run(instance: dg.DagsterInstance, run_id: str, status: str) -> RunSummary:
    records = instance.all_logs(run_id)
    started, steps = {}, {}
    passed = failed = blocking = 0
    for record in records:
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[event.step_key] = record.timestamp
        elif event.event_type in _ENDS and event.step_key in started:
            steps[event.step_key] = round(record.timestamp - started[event.step_key], 2)
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            passed += evaluation.passed
            failed += not evaluation.passed
            blocking += (not evaluation.passed) and evaluation.severity == dg.AssetCheckSeverity.ERROR
    first = records[0].timestamp if records else datetime.now(timezone.utc).timestamp()
    return RunSummary(run_id, _at(first), datetime.now(timezone.utc).replace(tzinfo=None),
                      "blocked" if status == "failed" and blocking else status, passed, failed, blocking, steps)  # fmt: skip


def record_failure(instance: dg.DagsterInstance, run_id: str) -> None:
    """A failed or blocked run still belongs in ops.run_history (of the working warehouse; the
    published copy carries it from the next successful run on; until then the marker beside the
    published copy says it, cartwh/nights.py)."""
    summary = summarize_run(instance, run_id, status="failed")
    with writer_lock(settings.warehouse_path()):
        con = connect(settings.warehouse_path())
        try:
            record_run(con, summary)
        finally:
            con.close()
    leave_unpublished_marker(settings.published_path(), summary)  # what analysts can read of this night

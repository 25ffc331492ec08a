"""A run's summary from Dagster's event log (step durations, check outcomes, why it failed), and
how a run opens and closes its record: every run ends as one ops.run_history row, recorded by
the run itself or, when it could not (killed, disk full, damaged warehouse), by the next run
(cartwh.night.run_marker). Plain logic over a Dagster instance, so the warehouse resource (assets/),
the publishing asset and the failure recorder (orchestration/) share it without assets
importing orchestration."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from cartwh import settings
from cartwh.night import run_marker
from cartwh.night.failures import WarehouseDamaged, check_working_warehouse, describe
from cartwh.night.processes import stop_child_processes
from cartwh.night.published_night import leave_unpublished_marker
from cartwh.night.run_history import RunSummary

_ENDS = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
_FAILURES = {
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.RESOURCE_INIT_FAILURE,
    dg.DagsterEventType.RUN_FAILURE,
}
PUBLISHED_ASSET = dg.AssetKey(["published", "warehouse"])


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC).replace(tzinfo=None)


def _error_text(error) -> str:
    """An error's class and message with those of its causes (Dagster wraps the user's error)."""
    parts = []
    while error is not None:
        parts.append(f"{error.cls_name}: {error.message}")
        error = error.cause or error.context
    return "\n".join(parts)


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
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            passed += evaluation.passed
            failed += not evaluation.passed
            blocking += (not evaluation.passed) and evaluation.severity == dg.AssetCheckSeverity.ERROR
        if event.event_type in _ENDS and event.step_key in started:
            steps[event.step_key] = round(record.timestamp - started[event.step_key], 2)
    first = records[0].timestamp if records else time.time()
    message = None
    if status == "failed":
        status, message = why_failed([r.dagster_event for r in records if r.dagster_event is not None])
        status = "blocked" if status == "failed" and blocking else status
    return RunSummary(
        run_id, _at(first), datetime.now(UTC).replace(tzinfo=None), status, passed, failed, blocking, steps, message
    )


def why_failed(events: list[dg.DagsterEvent]) -> tuple[str, str | None]:
    """('interrupted' or 'failed', one sentence) for a run that did not succeed: the first
    interruption if there was one, else its first error."""
    errors = [
        (e.step_key, _error_text(e.event_specific_data.error))
        for e in events
        if e.event_type in _FAILURES and getattr(e.event_specific_data, "error", None) is not None
    ]
    interrupted = [e for e in errors if describe(e[1]).startswith("interrupted")]
    if not errors:
        return "failed", None
    step, text = (interrupted or errors)[0]
    return (
        "interrupted" if interrupted else "failed",
        (f"{step}: " if step else "") + describe(text, where=settings.warehouse_path()),
    )


def run_outcome(instance: dg.DagsterInstance, run_id: str) -> str:
    """'published', 'failed' (some step or resource failed) or 'succeeded' (a run of a subset)."""
    kinds = [r.dagster_event for r in instance.all_logs(run_id) if r.dagster_event is not None]
    if any(e.event_type in _FAILURES for e in kinds):
        return "failed"
    if any(e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION and e.asset_key == PUBLISHED_ASSET for e in kinds):
        return "published"
    return "succeeded"


def open_run(warehouse: Path, run_id: str) -> None:
    """At the start of a run, under the writer lock: leave a marker, refuse a damaged warehouse
    (recorded once it is rebuilt), and record the runs that could not record themselves."""
    started = run_marker.now()
    run_marker.begin(warehouse, run_id, started)
    try:
        check_working_warehouse(warehouse)
    except WarehouseDamaged as error:
        run_marker.defer(warehouse, RunSummary(run_id, started, run_marker.now(), "failed", message=str(error)))
        raise
    run_marker.record_unfinished(warehouse, but=run_id)


def close_run(instance: dg.DagsterInstance, run_id: str, warehouse: Path, published: Path) -> RunSummary | None:
    """At the end of a run, under the writer lock: record it unless it published (the publishing
    step recorded it) or was a run of a subset that succeeded (nothing to record). A run that did
    not publish leaves its marker beside the published copy, for analysts (cartwh/night/published_night.py)."""
    outcome = run_outcome(instance, run_id)
    if outcome != "failed":
        run_marker.finish(warehouse, run_id)
        return None
    summary = summarize_run(instance, run_id, status="failed")
    if summary.status == "interrupted":
        stop_child_processes()  # dbt may not have been told (an interrupt between its events): no writer outlives the lock
    run_marker.record_or_defer(warehouse, summary)
    leave_unpublished_marker(published, summary)
    return summary

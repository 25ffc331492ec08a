"""A run's summary from Dagster's event log: step durations and check outcomes. Plain logic
over a Dagster instance, so the publishing asset and the failure recorder share it without
assets importing orchestration."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from cartwh.run_history import RunSummary

_ENDS = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC).replace(tzinfo=None)


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
    first = records[0].timestamp if records else datetime.now(UTC).timestamp()
    return RunSummary(run_id, _at(first), datetime.now(UTC).replace(tzinfo=None),
                      "blocked" if status == "failed" and blocking else status, passed, failed, blocking, steps)  # fmt: skip

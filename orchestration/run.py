"""Run the main job in-process (what `make run` and `cartwh run` do without a daemon)."""

from __future__ import annotations

import dagster as dg

from cartwh.run_events import why_failed
from orchestration.definitions import defs
from orchestration.jobs import MAIN_JOB

_QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def run_main_job(definitions: dg.Definitions | None = None) -> dg.ExecuteInProcessResult:
    """The main job of `definitions` (the code location's by default). The run records itself in
    ops.run_history as it ends, whatever the outcome (the warehouse resource does it under the
    writer lock; cartwh.run_events)."""
    instance = dg.DagsterInstance.ephemeral()
    job = (definitions or defs).resolve_job_def(MAIN_JOB)
    return job.execute_in_process(run_config=_QUIET, raise_on_error=False, instance=instance)


def failure_of(result: dg.ExecuteInProcessResult) -> tuple[str, str | None]:
    """('interrupted' | 'failed', the one sentence that says why) for a run that did not succeed."""
    return why_failed([event for event in result.all_events])


def rows_added(result: dg.ExecuteInProcessResult) -> dict[str, int]:
    """Rows each raw table gained in this run, from the materialization metadata."""
    added = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        value = materialization.metadata.get("rows_added")
        if value is not None:
            added[".".join(materialization.asset_key.path)] = value.value
    return added


def unrecognised_files(result: dg.ExecuteInProcessResult) -> list[str]:
    """Each source's line about files it found but does not read (cartwh.ingest.unrecognised)."""
    lines = []
    for event in result.get_asset_materialization_events():
        value = event.step_materialization_data.materialization.metadata.get("unrecognised")
        if value is not None and value.value != "none" and value.value not in lines:
            lines.append(value.value)
    return lines

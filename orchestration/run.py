"""Run the main job in-process (what `make run` and `cartwh run` do without a daemon)."""

from __future__ import annotations

import dagster as dg

from orchestration.definitions import defs
from orchestration.jobs import MAIN_JOB
from orchestration.run_summary import record_failure

_QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def run_main_job(definitions: dg.Definitions | None = None) -> dg.ExecuteInProcessResult:
    """The main job of `definitions` (the code location's by default); a failed or blocked run
    is recorded in ops.run_history, as the failure sensor does for daemon runs."""
    instance = dg.DagsterInstance.ephemeral()
    job = (definitions or defs).resolve_job_def(MAIN_JOB)
    result = job.execute_in_process(run_config=_QUIET, raise_on_error=False, instance=instance)
    if not result.success:
        record_failure(instance, result.run_id)
    return result


def rows_added(result: dg.ExecuteInProcessResult) -> dict[str, int]:
    """Rows each raw table gained in this run, from the materialization metadata."""
    added = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        value = materialization.metadata.get("rows_added")
        if value is not None:
            added[".".join(materialization.asset_key.path)] = value.value
    return added

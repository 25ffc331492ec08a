"""Run the main job in-process (what `make run` and `cartwh run` do without a daemon)."""

from __future__ import annotations

import dagster as dg

from orchestration.definitions import defs
from orchestration.jobs import MAIN_JOB

_QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def run_main_job() -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(MAIN_JOB).execute_in_process(run_config=_QUIET, raise_on_error=False)


def rows_added(result: dg.ExecuteInProcessResult) -> dict[str, int]:
    """Rows each raw table gained in this run, from the materialization metadata."""
    added = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        value = materialization.metadata.get("rows_added")
        if value is not None:
            added[".".join(materialization.asset_key.path)] = value.value
    return added

"""Run the main job in-process (what `make run` and `cartwh run` do without a daemon), on the same
persistent Dagster instance as `make serve` (DAGSTER_HOME in the data folder), so the Dagster UI
lists these runs beside the nightly ones."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from assets.checks import quality_checks
from assets.ingestion import raw_assets
from assets.publish import published_warehouse
from assets.pull import redcap_pull
from assets.statistics import study_report, study_statistics_asset
from assets.transformations import dbt_models
from cartwh import settings
from cartwh.night.nothing_new import TAG
from cartwh.night.run_events import why_failed
from orchestration.definitions import defs
from orchestration.jobs import MAIN_JOB

INSTANCE_CONFIG = Path(__file__).with_name("dagster.yaml")
_QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def instance(home: Path | None = None) -> dg.DagsterInstance:
    """The persistent instance in `home` (settings.dagster_home()), its dagster.yaml the one
    `make serve` copies there. Created under the caller's umask (077 for every cartwh command:
    Dagster's storage is the pipeline's account's only)."""
    home = Path(home or settings.dagster_home())
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text() != INSTANCE_CONFIG.read_text():
        config.write_text(INSTANCE_CONFIG.read_text())
    return dg.DagsterInstance.from_config(str(home))


def stages() -> dict[str, str]:
    """Step key -> console stage (cartwh.night.console.STAGES), for every step of the main job, by
    the definitions that make them."""
    definitions = [
        ("pull", [redcap_pull]),
        ("ingest", raw_assets()),
        ("dbt build", [dbt_models]),
        ("checks", quality_checks()),
        ("statistics", [study_statistics_asset()]),
        ("reports", [study_report]),
        ("publish", [published_warehouse]),
    ]
    return {definition.node_def.name: stage for stage, group in definitions for definition in group}


def dbt_node_count() -> int:
    """The ends of dbt's work Dagster reports (cartwh.night.console counts them): a materialization per
    model and seed, and the evaluation of each tested one's `dbt_tests` check."""
    return len(dbt_models.keys) + len(dbt_models.check_keys)


def run_main_job(
    definitions: dg.Definitions | None = None,
    on_event: Callable[[dg.EventLogEntry], None] | None = None,
    dagster_instance: dg.DagsterInstance | None = None,
    inputs: str | None = None,
    full_refresh: bool = False,
) -> dg.ExecuteInProcessResult:
    """The main job of `definitions` (the code location's by default), on the persistent instance
    of this data folder unless one is given; `on_event` sees every event record as it happens.
    The run records itself in ops.run_history as it ends, whatever the outcome (the warehouse
    resource does it under the writer lock; cartwh.night.run_events). `inputs`: the fingerprint of the
    night's inputs (cartwh.night.nothing_new), recorded if it publishes; `full_refresh`: dbt rebuilds
    its incremental models from the whole raw layer."""
    job = (definitions or defs).resolve_job_def(MAIN_JOB)
    run_id = str(uuid.uuid4())
    here = dagster_instance or instance()
    if on_event is not None:
        here.add_event_listener(run_id, on_event)
    try:
        return job.execute_in_process(
            run_config=_QUIET
            | ({"ops": {dbt_models.op.name: {"config": {"full_refresh": True}}}} if full_refresh else {}),
            raise_on_error=False,
            instance=here,
            run_id=run_id,
            tags={TAG: inputs} if inputs else None,
        )
    finally:
        if dagster_instance is None:
            here.dispose()  # its storage's connections; the result keeps its events in memory


def failure_of(result: dg.ExecuteInProcessResult) -> tuple[str, str | None]:
    """('interrupted' | 'failed', the one sentence that says why) for a run that did not succeed."""
    return why_failed([event for event in result.all_events])

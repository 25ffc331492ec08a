"""When runs start: the nightly schedule, the landing-folder sensor, and the failure recorder. (No
`from __future__ import annotations`: Dagster reads the sensor's resource annotation.)"""

import time
from pathlib import Path

import dagster as dg

from assets.resources import LandingZone
from cartwh import settings
from cartwh.night.landing import arrival_decision, landing_state
from cartwh.night.nothing_new import TAG, fingerprint, nothing_new
from cartwh.pull.redcap import configured_sites
from orchestration.jobs import main_job
from orchestration.run_summary import record_failure


def _night(landing: Path, tags: dict[str, str], run_key: str | None = None) -> dg.RunRequest | dg.SkipReason:
    """A run of the main job, unless nothing is new since the last published night."""
    inputs = fingerprint(landing)
    unchanged = nothing_new(
        landing, inputs, settings.warehouse_path(), settings.published_path(), bool(configured_sites())
    )
    if unchanged:
        return dg.SkipReason(unchanged)
    return dg.RunRequest(run_key=run_key, tags={**tags, TAG: inputs})


@dg.schedule(
    job=main_job,
    cron_schedule=settings.nightly_cron(),
    execution_timezone=settings.timezone(),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Ingest whatever landed, rebuild the marts, validate, recompute statistics and reports, publish; "
    "nothing, when nothing is new since the last published night.",
)
def nightly(context: dg.ScheduleEvaluationContext):
    return _night(settings.landing_dir(), {"cartwh/trigger": "schedule"})


@dg.sensor(job=main_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_arrivals(context: dg.SensorEvaluationContext, landing_zone: LandingZone):
    """Start the main job when new exports have landed (and stopped changing)."""
    state = landing_state(Path(landing_zone.landing))
    decision = arrival_decision(state, context.cursor, time.time())
    if not decision.start_run:
        return dg.SkipReason(decision.reason)
    context.update_cursor(state.fingerprint)
    return _night(Path(landing_zone.landing), {"cartwh/trigger": "landing"}, run_key=state.fingerprint)


@dg.run_failure_sensor(monitored_jobs=[main_job], default_status=dg.DefaultSensorStatus.RUNNING)
def record_failed_run(context: dg.RunFailureSensorContext):
    """A failed or blocked night still belongs in ops.run_history."""
    record_failure(context.instance, context.dagster_run.run_id)

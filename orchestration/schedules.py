"""When runs start: the nightly schedule, the landing-folder sensor, and the failure recorder. (No
`from __future__ import annotations`: Dagster reads the sensor's resource annotation.)"""

import time
from pathlib import Path

import dagster as dg

from assets.resources import LandingZone
from cartwh import settings
from cartwh.landing import arrival_decision, landing_state
from orchestration.jobs import main_job
from orchestration.run_summary import record_failure

nightly = dg.ScheduleDefinition(
    name="nightly",
    job=main_job,
    cron_schedule=settings.nightly_cron(),
    execution_timezone=settings.timezone(),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Ingest whatever landed, rebuild the marts, validate, recompute statistics and reports, publish.",
)


@dg.sensor(job=main_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_arrivals(context: dg.SensorEvaluationContext, landing_zone: LandingZone):
    """Start the main job when new exports have landed (and stopped changing)."""
    state = landing_state(Path(landing_zone.landing))
    decision = arrival_decision(state, context.cursor, time.time())
    if not decision.start_run:
        return dg.SkipReason(decision.reason)
    context.update_cursor(state.fingerprint)
    return dg.RunRequest(run_key=state.fingerprint, tags={"cartwh/trigger": "landing"})


@dg.run_failure_sensor(monitored_jobs=[main_job], default_status=dg.DefaultSensorStatus.RUNNING)
def record_failed_run(context: dg.RunFailureSensorContext):
    """A failed or blocked night still belongs in ops.run_history."""
    record_failure(context.instance, context.dagster_run.run_id)

"""Operations without a night: the nightly schedule and the landing sensor (orchestration/schedules.py,
cartwh/night/landing.py), atomic publication under a concurrent reader, and how a rebuild groups the
archive's versions. On the session's demo run: tests/e2e/test_operations.py."""

import importlib
import os
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest

from cartwh.night.landing import arrival_decision, landing_state
from cartwh.warehouse.publish import publish

# --- schedule and sensor -------------------------------------------------------------------


def test_nightly_schedule_fires_at_two_in_madrid_and_is_configurable(monkeypatch, tmp_path):
    from orchestration.definitions import defs

    # A data folder of its own: the project's (after a `make run`) holds a published night with
    # nothing new since, and the schedule would rightly skip.
    monkeypatch.setenv("CARTWH_DATA", str(tmp_path))
    for variable in ("CARTWH_WAREHOUSE", "CARTWH_LANDING", "CARTWH_PUBLISHED"):
        monkeypatch.delenv(variable, raising=False)

    nightly = defs.get_schedule_def("nightly")
    assert (nightly.cron_schedule, nightly.execution_timezone) == ("0 2 * * *", "Europe/Madrid")
    assert nightly.default_status == dg.DefaultScheduleStatus.RUNNING and nightly.job_name == "cartwh_main"
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 24, 2, tzinfo=ZoneInfo("Europe/Madrid"))
    )
    requests = list(nightly.evaluate_tick(context).run_requests)
    assert len(requests) == 1
    monkeypatch.setenv("CARTWH_NIGHTLY_CRON", "30 3 * * 1-5")
    monkeypatch.setenv("CARTWH_TIMEZONE", "UTC")
    import orchestration.schedules as schedules

    reloaded = importlib.reload(schedules).nightly
    assert (reloaded.cron_schedule, reloaded.execution_timezone) == ("30 3 * * 1-5", "UTC")
    importlib.reload(schedules)


def test_landing_sensor_starts_a_run_once_per_settled_arrival(tmp_path, monkeypatch):
    from assets.resources import LandingZone
    from orchestration.schedules import landing_arrivals

    landing = tmp_path / "landing"
    resources = {"landing_zone": LandingZone(landing=str(landing), archive=str(tmp_path / "archive"))}
    assert isinstance(landing_arrivals(dg.build_sensor_context(resources=resources)), dg.SkipReason)  # nothing landed
    export = landing / "redcap" / "export.csv"
    export.parent.mkdir(parents=True)
    export.write_text("record_id\n1\n")
    assert (
        "settle" in landing_arrivals(dg.build_sensor_context(resources=resources)).skip_message
    )  # still being written
    old = time.time() - 300
    os.utime(export, (old, old))
    context = dg.build_sensor_context(resources=resources)
    request = landing_arrivals(context)
    assert isinstance(request, dg.RunRequest) and request.run_key == context.cursor
    again = landing_arrivals(dg.build_sensor_context(cursor=context.cursor, resources=resources))
    assert again.skip_message == "nothing new has landed"


def test_arrival_decision_by_hand():
    state = landing_state(Path("/nonexistent"))
    assert not arrival_decision(state, None, 0).start_run
    fresh = state.__class__("abc", 3, newest_mtime=1000.0)
    assert arrival_decision(fresh, None, now=1100.0).start_run
    assert not arrival_decision(fresh, None, now=1030.0).start_run  # modified 30 s ago: settling
    assert not arrival_decision(fresh, "abc", now=5000.0).start_run  # already run for this state


# --- publication --------------------------------------------------------------------------


def test_publish_is_atomic_and_a_reader_keeps_its_snapshot(tmp_path, monkeypatch):
    working = duckdb.connect(str(tmp_path / "working.duckdb"))
    working.execute("CREATE SCHEMA marts; CREATE TABLE marts.t AS SELECT 1 AS night")
    published = tmp_path / "published" / "warehouse.duckdb"
    publish(working, published)
    reader = duckdb.connect(str(published), read_only=True)
    working.execute("UPDATE marts.t SET night = 2")
    publish(working, published)
    assert reader.execute("SELECT night FROM marts.t").fetchall() == [(1,)]  # still the night it opened
    reader.close()
    assert duckdb.connect(str(published), read_only=True).execute("SELECT night FROM marts.t").fetchall() == [(2,)]

    def dies(*_):
        raise OSError("killed while publishing")

    working.execute("UPDATE marts.t SET night = 3")
    monkeypatch.setattr(os, "replace", dies)
    with pytest.raises(OSError):
        publish(working, published)
    monkeypatch.undo()
    assert duckdb.connect(str(published), read_only=True).execute("SELECT night FROM marts.t").fetchall() == [(2,)]
    working.close()


# --- rebuild ------------------------------------------------------------------------------


def test_rebuild_lands_consecutive_versions_together_until_a_name_returns():
    from cartwh.warehouse.rebuild import _landings

    ledger = [
        ("redcap", "r/a.csv", "1"),
        ("stats", "s/a.csv", "2"),
        ("stats", "s/b.csv", "3"),
        ("stats", "s/a.csv", "4"),
        ("stats", "s/c.csv", "5"),
        ("redcap", "r/a.csv", "6"),
    ]
    assert _landings(ledger) == [
        ("redcap", {"r/a.csv": "1"}),
        ("stats", {"s/a.csv": "2", "s/b.csv": "3"}),
        ("stats", {"s/a.csv": "4", "s/c.csv": "5"}),
        ("redcap", {"r/a.csv": "6"}),
    ]

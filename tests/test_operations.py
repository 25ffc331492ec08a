"""Operations: the nightly schedule and the landing sensor, atomic publication (a killed run and
a concurrent reader), read-only `cartwh sql`, no identifiers in the published copy, run
history, and a rebuild from the archive that reproduces marts and statistics."""

import csv
import hashlib
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest

from cartwh.ingest import known_records
from cartwh.night.landing import arrival_decision, landing_state
from cartwh.night.locking import writer_lock
from cartwh.sql.guard import ReadOnlyRefusal
from cartwh.sql.shell import run_sql
from cartwh.warehouse.publish import publish
from tests.conftest import data_env as _env

ROOT = Path(__file__).resolve().parent.parent


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_digest(folder: Path) -> str:
    """The folder's files and their contents, but the archive's known-records store: a cache derived
    from the archived exports (cartwh.ingest.known_records), whose bytes change whenever it is opened."""
    files = (p for p in sorted(folder.rglob("*")) if p.is_file() and p.name != known_records.FILE)
    return hashlib.sha256("".join(f"{p.relative_to(folder)}:{_digest(p)}\n" for p in files).encode()).hexdigest()


# --- schedule and sensor -------------------------------------------------------------------


def test_nightly_schedule_fires_at_two_in_madrid_and_is_configurable(monkeypatch):
    from orchestration.definitions import defs

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


def test_killed_run_leaves_the_published_copy_intact_and_readers_unblocked(demo_copy):
    published = demo_copy / "published" / "warehouse.duckdb"
    before = _digest(published)
    runs_before = (
        duckdb.connect(str(published), read_only=True).execute("SELECT count(*) FROM ops.run_history").fetchall()
    )
    run = subprocess.Popen(
        [str(Path(sys.executable).with_name("cartwh")), "run"],
        env=_env(demo_copy),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(12)  # ingestion done, dbt building: mid-run
        assert run.poll() is None, "the run finished before it could be killed"
        reader = duckdb.connect(str(published), read_only=True)  # a reader during the run is not blocked
        assert reader.execute("SELECT count(*) FROM ops.run_history").fetchall() == runs_before
        assert reader.execute("SELECT count(*) FROM marts.patients").fetchall() == [(24,)]
        reader.close()
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    assert _digest(published) == before
    assert (
        duckdb.connect(str(published), read_only=True)
        .execute("SELECT count(*) FROM analytics.km_estimates")
        .fetchall()[0][0]
        > 0
    )
    with writer_lock(demo_copy / "warehouse.duckdb", wait_seconds=1):  # the dead run's lock is gone
        pass


# --- reading ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM marts.patients",
        "INSERT INTO marts.patients SELECT * FROM marts.patients",
        "CREATE TABLE x AS SELECT 1",
        "DROP TABLE marts.patients",
        "ATTACH 'other.duckdb'",
        "COPY marts.patients TO 'out.csv'",
        "SELECT 1; UPDATE marts.patients SET sex = NULL",
        "INSTALL httpfs",
    ],
)
def test_cartwh_sql_refuses_anything_that_writes(demo_warehouse, statement):
    published = demo_warehouse.parent / "published" / "warehouse.duckdb"
    with pytest.raises(ReadOnlyRefusal, match="refused"):
        run_sql(published, statement)


def test_cartwh_sql_answers_in_table_csv_and_json(demo_warehouse):
    published = demo_warehouse.parent / "published" / "warehouse.duckdb"
    sql = "SELECT bridging_group, count(*) AS n FROM marts.patients GROUP BY 1 ORDER BY 1"
    assert "inotuzumab" in run_sql(published, sql)
    assert list(csv.reader(run_sql(published, sql, "csv").splitlines())) == [
        ["bridging_group", "n"],
        ["chemotherapy", "14"],
        ["inotuzumab", "10"],
    ]
    assert json.loads(run_sql(published, sql, "json")) == [
        {"bridging_group": "chemotherapy", "n": 14},
        {"bridging_group": "inotuzumab", "n": 10},
    ]


def test_published_copy_holds_no_direct_identifier(demo_warehouse, demo_identifiers):
    con = duckdb.connect(str(demo_warehouse.parent / "published" / "warehouse.duckdb"), read_only=True)
    columns = con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns WHERE data_type = 'VARCHAR'"
    ).fetchall()
    assert not {c for _, _, c in columns} & {"patient_name", "mrn", "birth_date", "record_id"}
    for schema, table, column in columns:
        hits = con.execute(
            f'SELECT count(*) FROM "{schema}"."{table}" WHERE "{column}" IN ?', [demo_identifiers]
        ).fetchall()
        assert hits == [(0,)], (schema, table, column)
    con.close()


def test_each_run_leaves_its_summary(demo_warehouse):
    con = duckdb.connect(str(demo_warehouse.parent / "published" / "warehouse.duckdb"), read_only=True)
    ((status, checks_failed, rows, steps),) = con.execute(
        "SELECT status, checks_failed, rows_per_table, step_seconds FROM ops.run_history"
    ).fetchall()
    con.close()
    assert status == "published" and checks_failed == 0
    assert json.loads(rows)["marts.patients"] == 24 and json.loads(rows)["analytics.cox_models"] > 0
    assert "dbt_models" in json.loads(steps)


# --- rebuild ------------------------------------------------------------------------------


def test_rebuild_from_the_archive_reproduces_marts_and_statistics(demo_copy):
    published = demo_copy / "published" / "warehouse.duckdb"
    landing, archive = _tree_digest(demo_copy / "landing"), _tree_digest(demo_copy / "archive")
    analytics = "SELECT * EXCLUDE (code_version) FROM analytics.{} ORDER BY ALL"
    tables = ("km_estimates", "group_comparisons", "cox_models", "cutoffs")

    def state():
        con = duckdb.connect(str(published), read_only=True)
        try:
            return {t: con.execute(analytics.format(t)).fetchall() for t in tables}
        finally:
            con.close()

    before = state()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("cartwh")), "rebuild"],
        env=_env(demo_copy),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Replayed 230 archived file versions" in done.stdout
    assert state() == before  # same mart snapshot (a content hash), same numbers
    assert _tree_digest(demo_copy / "landing") == landing and _tree_digest(demo_copy / "archive") == archive


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

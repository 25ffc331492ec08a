"""Operations on the session's demo run: a killed run leaves the published copy intact, read-only
`cartwh sql`, no identifiers in the published copy, run history, and a rebuild from the archive
that reproduces marts and statistics."""

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from cartwh.ingest import known_records
from cartwh.night.locking import writer_lock
from cartwh.sql.guard import ReadOnlyRefusal
from cartwh.sql.shell import run_sql
from tests.conftest import data_env as _env
from tests.paths import ROOT


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_digest(folder: Path) -> str:
    """The folder's files and their contents, but the archive's known-records store: a cache derived
    from the archived exports (cartwh.ingest.known_records), whose bytes change whenever it is opened."""
    files = (p for p in sorted(folder.rglob("*")) if p.is_file() and p.name != known_records.FILE)
    return hashlib.sha256("".join(f"{p.relative_to(folder)}:{_digest(p)}\n" for p in files).encode()).hexdigest()


# --- publication --------------------------------------------------------------------------


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

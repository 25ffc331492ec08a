"""Recovery: rebuilding from the archive alone, and failures that say what happened (full disk,
damaged working warehouse, stale WAL, interrupted and killed runs), each ending as one sentence and
one correct ops.run_history row.

A full disk is simulated by making a write raise ENOSPC (OSError errno 28, the error the OS
gives), at the archive ledger's append and at publication (on a real full volume:
tests/e2e/test_full_disk.py)."""

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cartwh.ingest.dictionary_tables import CHOICES, FIELDS
from cartwh.ingest.load import ingest_source
from cartwh.ingest.warehouse import connect
from cartwh.night import run_marker
from cartwh.night.failures import WarehouseDamaged, check_working_warehouse
from cartwh.night.locking import writer_lock
from cartwh.warehouse import archive_ledger
from cartwh.warehouse.archive_ledger import ArchiveLedger, read_ledger
from cartwh.warehouse.rebuild import rebuild_raw, set_aside_path
from tests.conftest import data_env
from tests.paths import ROOT

DISK_FULL = OSError(errno.ENOSPC, "No space left on device")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(warehouse: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def raw_state(warehouse: Path) -> dict:
    """What a rebuild must reproduce: rows per raw table, the ledger in load order, which version
    superseded which, and the quarantine. (The data dictionary's tables come from the contract,
    not from landed files: the main job after the replay writes them.)"""
    tables = [
        t
        for (t,) in _rows(
            warehouse,
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE schema_name = 'raw' ORDER BY 1",
        )
        if t not in (FIELDS, CHOICES)
    ]
    return {
        "rows": {t: _rows(warehouse, f"SELECT count(*) FROM {t}")[0][0] for t in tables},
        "ledger": _rows(
            warehouse,
            "SELECT source, file, sha256, bytes, rows_loaded, rows_quarantined FROM raw.landed_files ORDER BY load_id",
        ),
        "supersession": _rows(
            warehouse,
            "SELECT l.file, l.sha256, s.sha256 FROM raw.landed_files l LEFT JOIN "
            "raw.landed_files s ON s.load_id = l.superseded_by ORDER BY l.load_id",
        ),
        "quarantine": _rows(warehouse, "SELECT file, row, column_name, reason FROM raw.quarantine ORDER BY ALL"),
    }


def _definitions(data: Path, monkeypatch) -> dg.Definitions:
    """The code location with its resources on the data folder `data`."""
    monkeypatch.setenv("CARTWH_DATA", str(data))
    monkeypatch.setenv("CARTWH_WAREHOUSE", str(data / "warehouse.duckdb"))
    from orchestration.definitions import defs
    from orchestration.resources import default_resources

    return dg.Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=default_resources()
    )


def _run_job(data: Path, monkeypatch) -> dg.ExecuteInProcessResult:
    """The main job in-process on the data folder `data`."""
    from orchestration.run import run_main_job

    return run_main_job(_definitions(data, monkeypatch))


def _history(warehouse: Path) -> list[tuple]:
    return _rows(warehouse, "SELECT run_id, status, message FROM ops.run_history ORDER BY started_at")


def _re_export(landing: Path) -> Path:
    """A corrected re-export of one manifest at the same path (another instrument named)."""
    manifest = sorted((landing / "cytometry" / "manifests").rglob("*.csv"))[0]
    manifest.write_text(manifest.read_text().replace("BD FACSCanto II", "BD FACSLyric"))
    return manifest


# --- rebuild from the archive alone -------------------------------------------------------


def test_rebuild_from_the_archive_alone_reproduces_the_raw_layer(demo_copy):
    working, published, archive = (
        demo_copy / "warehouse.duckdb",
        demo_copy / "published" / "warehouse.duckdb",
        demo_copy / "archive",
    )
    con = connect(working)
    _re_export(demo_copy / "landing")
    ingest_source(con, demo_copy / "landing", "cytometry_manifest", archive)  # B supersedes A
    con.close()
    before = raw_state(working)
    assert sum(s is not None for _, _, s in before["supersession"]) == 1 and len(before["ledger"]) == 231
    for path in (working, published):
        path.unlink()
    (demo_copy / "published").rmdir()
    assert rebuild_raw(working, [working, published], archive) == 231
    assert not set_aside_path(working).exists()  # there was nothing to set aside
    assert raw_state(working) == before
    assert len(read_ledger(archive)) == 231  # the replay appended nothing


def test_rebuild_seeds_a_missing_ledger_once_from_the_warehouse(demo_copy):
    working, archive = demo_copy / "warehouse.duckdb", demo_copy / "archive"
    before = raw_state(working)
    (archive / "ledger.jsonl").unlink()  # an archive from before the ledger existed
    assert rebuild_raw(working, working, archive) == 230
    assert raw_state(working) == before and len(read_ledger(archive)) == 230


# --- a damaged working warehouse ----------------------------------------------------------


def _stale_wal(working: Path) -> None:
    """A write-ahead log that is not this database's (left by a copy, a restore or a crash)."""
    other = working.with_name("other.duckdb")
    con = duckdb.connect(str(other))
    con.execute("SET checkpoint_threshold = '1TB'; CREATE TABLE t AS SELECT 1 AS i; INSERT INTO t VALUES (2)")
    os.replace(f"{other}.wal", f"{working}.wal")  # taken while `other` is still open: a WAL with content
    con.close()


def _garbage(working: Path) -> None:
    working.write_bytes(os.urandom(working.stat().st_size))


def _truncated(working: Path) -> None:
    os.truncate(working, 5000)


@pytest.mark.parametrize("damage", [_stale_wal, _garbage, _truncated])
def test_a_damaged_working_warehouse_stops_the_run_at_its_start(demo_copy, monkeypatch, damage):
    working, published = demo_copy / "warehouse.duckdb", demo_copy / "published" / "warehouse.duckdb"
    before = _digest(published)
    damage(working)
    with pytest.raises(WarehouseDamaged, match="cartwh rebuild"):
        check_working_warehouse(working)
    result = _run_job(demo_copy, monkeypatch)
    from orchestration.run import failure_of

    assert not result.success and not any(e.is_step_start for e in result.all_events)
    status, why = failure_of(result)
    assert status == "failed" and "is damaged" in why and "Run `cartwh rebuild`" in why
    assert _digest(published) == before
    (pending,) = run_marker.unfinished(working)  # recorded by the first run after the rebuild
    assert pending.status == "failed" and pending.run_id == result.run_id and "cartwh rebuild" in pending.message


def test_stale_wal_is_set_aside_by_rebuild_and_the_failed_run_is_recorded_after_it(demo_copy, monkeypatch):
    working, archive = demo_copy / "warehouse.duckdb", demo_copy / "archive"
    before = raw_state(working)
    history = _history(working)
    _stale_wal(working)
    result = _run_job(demo_copy, monkeypatch)
    assert not result.success
    rebuild_raw(working, [working, demo_copy / "published" / "warehouse.duckdb"], archive)
    aside = demo_copy / "warehouse.before-rebuild.duckdb"
    assert set_aside_path(working) == aside and aside.exists()
    assert Path(f"{aside}.wal").exists() and not Path(f"{working}.wal").exists()
    check_working_warehouse(working)  # opens cleanly now
    assert raw_state(working) == before
    from cartwh.night.run_events import open_run

    with writer_lock(working):
        open_run(working, "the-next-run")  # what the next run does first
    assert _history(working)[:-1] == history  # the nights so far, carried over from the published copy
    run_id, status, message = _history(working)[-1]
    assert (run_id, status) == (result.run_id, "failed") and "damaged" in message


def test_cartwh_run_on_a_damaged_warehouse_says_so_in_one_sentence(demo_copy, monkeypatch, capfd):
    import orchestration.run
    from cartwh.cli import main

    _garbage(demo_copy / "warehouse.duckdb")
    monkeypatch.setattr(orchestration.run, "defs", _definitions(demo_copy, monkeypatch))  # as if started there
    log = demo_copy / "logs" / "run.log"
    assert main(["run", "--in-this-process", "--log-file", str(log)]) == 1
    out, err = capfd.readouterr()
    assert out == "" and "Traceback" not in err
    sentence, where = err.strip().splitlines()
    assert sentence.startswith("The run did not start: The working warehouse") and "Run `cartwh rebuild`" in sentence
    assert where == f"Log: {log}" and "Stack Trace" in log.read_text()  # the whole story is in the log


# --- a full disk --------------------------------------------------------------------------


def test_full_disk_during_ingestion_fails_in_one_sentence_and_the_ledger_catches_up(demo_copy, monkeypatch):
    working, published, archive = (
        demo_copy / "warehouse.duckdb",
        demo_copy / "published" / "warehouse.duckdb",
        demo_copy / "archive",
    )
    before, ledger_before = _digest(published), read_ledger(archive)
    _re_export(demo_copy / "landing")

    def disk_full(*_):
        raise DISK_FULL

    monkeypatch.setattr(archive_ledger, "_append_durably", disk_full)  # after the COMMIT, at the ledger's append
    result = _run_job(demo_copy, monkeypatch)
    from orchestration.run import failure_of

    assert not result.success
    status, why = failure_of(result)
    assert status == "failed" and why.startswith("raw_cytometry_manifests: the disk is full") and "\n" not in why
    ((_, recorded, message),) = [r for r in _history(working) if r[0] == result.run_id]
    assert recorded == "failed" and message == why
    assert _digest(published) == before and run_marker.unfinished(working) == []
    monkeypatch.undo()
    con = connect(working)  # the next ingestion starts by writing what the full disk kept out
    assert ArchiveLedger(archive).sync(con) == 1
    con.close()
    assert read_ledger(archive)[:-1] == ledger_before and read_ledger(archive)[-1].file.startswith(
        "cytometry/manifests/"
    )


def test_full_disk_at_publication_is_recorded_as_failed_never_published(demo_copy, monkeypatch):
    working, published = demo_copy / "warehouse.duckdb", demo_copy / "published" / "warehouse.duckdb"
    before = _digest(published)
    monkeypatch.setenv("CARTWH_DATA", str(demo_copy))
    monkeypatch.setenv("CARTWH_WAREHOUSE", str(working))
    import assets.publish
    from orchestration.resources import default_resources

    def disk_full(*_):
        raise DISK_FULL

    monkeypatch.setattr(assets.publish, "publish", disk_full)
    resources = default_resources()
    result = dg.materialize([assets.publish.published_warehouse], resources=resources, raise_on_error=False)
    assert not result.success
    ((_, status, message),) = [r for r in _history(working) if r[0] == result.run_id]
    assert status == "failed" and "the disk is full" in message  # first recorded as published, then corrected
    assert _digest(published) == before

    # The disk is so full that correcting the record fails too: the working warehouse keeps the
    # publishing step's "published" (the published copy never got it) and the run's marker keeps
    # "failed", which the next run's start records.
    record_run = run_marker.record_run
    monkeypatch.setattr(run_marker, "record_run", disk_full)
    again = dg.materialize([assets.publish.published_warehouse], resources=resources, raise_on_error=False)
    assert [r[1] for r in _history(working) if r[0] == again.run_id] == ["published"]
    (pending,) = run_marker.unfinished(working)
    assert pending.run_id == again.run_id and pending.status == "failed" and "the disk is full" in pending.message
    monkeypatch.setattr(run_marker, "record_run", record_run)
    with writer_lock(working):
        run_marker.record_unfinished(working)  # the next run's start
    assert [r[1] for r in _history(working) if r[0] == again.run_id] == ["failed"]
    assert run_marker.unfinished(working) == [] and _digest(published) == before


# --- interrupted and killed runs ----------------------------------------------------------


def _start_run(data: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("cartwh")), "run"],
        env=data_env(data),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(condition, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _dbt_running(data: Path) -> bool:
    logs = sorted((data / "logs").glob("run-*.log"))
    return bool(logs) and "Running dbt command" in logs[-1].read_text()


def test_ctrl_c_ends_a_run_in_seconds_with_one_line_and_records_it(demo_copy):
    working, published = demo_copy / "warehouse.duckdb", demo_copy / "published" / "warehouse.duckdb"
    before, history = _digest(published), _history(working)
    run = _start_run(demo_copy)
    try:
        _wait_for(lambda: _dbt_running(demo_copy), "dbt to start")
        os.killpg(run.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C: every process of the run
        interrupted_at = time.monotonic()
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert time.monotonic() - interrupted_at < 25  # the grace period is 10 s
    assert run.returncode == 130
    assert len(err.strip().splitlines()) == 1 and err.startswith("Interrupted: ") and "Traceback" not in err
    assert _history(working)[:-1] == history
    _, status, message = _history(working)[-1]
    assert status == "interrupted" and message.startswith("interrupted (Ctrl-C or SIGTERM)")
    with writer_lock(working, wait_seconds=1):  # the lock is free
        pass
    assert _digest(published) == before and run_marker.unfinished(working) == []


def test_a_killed_run_is_recorded_as_interrupted_at_the_next_start(demo_copy):
    working = demo_copy / "warehouse.duckdb"
    run = _start_run(demo_copy)
    try:
        _wait_for(lambda: list(run_marker.markers_folder(working).glob("*.json")), "the run to start")
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # no chance to record anything
        run.wait()
    (marker,) = run_marker.markers_folder(working).glob("*.json")
    killed = json.loads(marker.read_text())["run_id"]
    from cartwh.night.run_events import open_run

    with writer_lock(working, wait_seconds=30):  # free once the killed processes have exited
        assert killed not in {r[0] for r in _history(working)}
        open_run(working, "the-next-run")
    ((_, status, message),) = [r for r in _history(working) if r[0] == killed]
    assert status == "interrupted" and message == run_marker.KILLED

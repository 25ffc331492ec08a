"""A whole run under another pseudonym key publishes nothing and changes no data (cartwh/ingest/keys.py
`check_pseudonym_key`)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import dagster as dg
import duckdb

from tests.unit.ingest.test_pseudonym_key_check import KEY_B, MISMATCH


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_run_under_another_key_publishes_nothing_and_changes_no_data(demo_warehouse, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(demo_warehouse.parent, data, ignore=shutil.ignore_patterns("*.lock"))
    published, working = data / "published" / "warehouse.duckdb", data / "warehouse.duckdb"
    con = duckdb.connect(str(working), read_only=True)
    query = (
        "SELECT (SELECT count(*) FROM raw.landed_files), (SELECT count(*) FROM raw.redcap_demographics), "
        "(SELECT count(*) FROM marts.patients), (SELECT sum(hash(fingerprint)) FROM raw.pseudonym_key)"
    )
    before, published_before = con.execute(query).fetchall(), _digest(published)
    con.close()
    monkeypatch.setenv("CARTWH_DATA", str(data))
    monkeypatch.setenv("CARTWH_WAREHOUSE", str(working))
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", KEY_B)
    from orchestration.definitions import defs
    from orchestration.resources import default_resources
    from orchestration.run import run_main_job

    result = run_main_job(
        dg.Definitions(
            assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=default_resources()
        )
    )
    assert not result.success
    failures = [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]
    assert failures and all(MISMATCH in message for message in failures)
    assert _digest(published) == published_before
    con = duckdb.connect(str(working), read_only=True)
    assert con.execute(query).fetchall() == before
    con.close()

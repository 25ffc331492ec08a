"""The pull lands what the same night ingests (assets/pull.py, then the raw assets through Dagster),
against the loopback REDCap server (tests/fake_redcap.py) serving the demo's export."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.ingestion import raw_assets
from assets.pull import PULL_KEY, redcap_pull
from cartwh.ingest.warehouse import connect
from tests.fake_redcap import TOKEN, Server
from tests.unit.pull.test_nightly_pull import _resources


@pytest.fixture
def server(demo_redcap_project):
    with Server(demo_redcap_project) as url:
        yield url


# end to end: the raw assets through Dagster after the pull
def test_the_pull_lands_what_the_same_night_ingests(server, tmp_path, monkeypatch):
    monkeypatch.setenv("CARTWH_REDCAP_URL", server)
    monkeypatch.setenv("CARTWH_REDCAP_TOKEN", TOKEN)
    result = dg.materialize([redcap_pull, *raw_assets()], resources=_resources(tmp_path, ["HUVR"]))
    assert result.success
    meta = {
        ".".join(e.asset_key.path): e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert meta[".".join(PULL_KEY.path)]["sites_pulled"].value == 1
    assert meta["raw.redcap_demographics"]["rows_added"].value == 24
    con = connect(tmp_path / "w.duckdb", read_only=True)
    [(name,)] = con.execute("SELECT file FROM raw.landed_files WHERE source = 'redcap'").fetchall()
    assert name.startswith("redcap/HUVR/HUVR_records_") and name.endswith(".csv")
    con.close()

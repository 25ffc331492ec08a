"""The pull as the nightly job's optional first step (cartwh.pull.redcap.pull_sites, assets/pull.py):
the plain function, then Dagster's materialize, against the loopback REDCap server (tests/fake_redcap.py)
serving the demo's export. The pull and the same night's ingestion: tests/e2e/test_nightly_pull.py."""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from assets.ingestion import raw_assets
from assets.pull import redcap_pull
from assets.resources import LandingZone, RedcapPull
from cartwh.pull.redcap import PullError, configured_sites, connection_from_environment, pull_sites
from tests.fake_redcap import TOKEN, Server

WRONG = "FEDCBA9876543210FEDCBA9876543210"
FIRST = datetime(2026, 1, 5, 2, 0, 0)


@pytest.fixture
def server(demo_redcap_project):
    with Server(demo_redcap_project) as url:
        yield url


def _files(folder) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_the_sites_come_from_one_setting():
    assert configured_sites({}) == [] and configured_sites({"CARTWH_REDCAP_SITES": " "}) == []
    assert configured_sites({"CARTWH_REDCAP_SITES": "HUVR, hmar ,"}) == ["HUVR", "hmar"]


def test_a_site_s_own_token_comes_before_the_common_one(tmp_path):
    (tmp_path / "token").write_text(TOKEN)
    environ = {
        "CARTWH_REDCAP_URL": "https://r.example.org/api/",
        "CARTWH_REDCAP_TOKEN": WRONG,
        "CARTWH_REDCAP_TOKEN_FILE_HUVR": str(tmp_path / "token"),
    }
    assert connection_from_environment(environ, "huvr").token == TOKEN
    assert connection_from_environment(environ, "HMAR").token == WRONG
    with pytest.raises(
        PullError, match=r"\(or CARTWH_REDCAP_TOKEN_HMAR / CARTWH_REDCAP_TOKEN_FILE_HMAR for this site\)"
    ):
        connection_from_environment({"CARTWH_REDCAP_URL": "https://r.example.org/api/"}, "hmar")


def test_sites_are_pulled_in_turn_and_the_first_failure_names_its_site(server, tmp_path):
    landing, archive = tmp_path / "landing", tmp_path / "archive"
    environ = {"CARTWH_REDCAP_URL": server, "CARTWH_REDCAP_TOKEN": TOKEN, "CARTWH_REDCAP_TOKEN_HMAR": WRONG}
    with pytest.raises(PullError) as raised:
        pull_sites(["HUVR", "HMAR"], landing, archive, environ, now=FIRST)
    assert str(raised.value).startswith("site HMAR: REDCap refused the API token (HTTP 403 Forbidden")
    assert WRONG not in str(raised.value) and TOKEN not in str(raised.value)
    # HUVR's pull was whole before HMAR's began; HMAR wrote nothing.
    assert [f for f in _files(landing) if f.endswith(".csv")] == ["redcap/HUVR/HUVR_records_20260105T020000.csv"]
    assert not (landing / "redcap" / "HMAR").exists() and _files(archive) == ["redcap_pull/HUVR.json"]


def _resources(tmp_path, sites):
    return {
        "warehouse": DuckDBResource(database=str(tmp_path / "w.duckdb")),
        "landing_zone": LandingZone(landing=str(tmp_path / "landing"), archive=str(tmp_path / "archive")),
        "redcap": RedcapPull(sites=sites),
    }


def test_not_configured_the_night_ingests_what_landed(tmp_path):
    result = dg.materialize([redcap_pull], resources=_resources(tmp_path, []))
    assert result.success
    [event] = result.get_asset_materialization_events()
    assert (
        event.step_materialization_data.materialization.metadata["skipped"].value
        == "not configured (CARTWH_REDCAP_SITES)"
    )
    assert _files(tmp_path) == []


def test_a_run_started_by_files_landing_does_not_pull(server, tmp_path, monkeypatch):
    monkeypatch.setenv("CARTWH_REDCAP_URL", server)
    monkeypatch.setenv("CARTWH_REDCAP_TOKEN", TOKEN)
    result = dg.materialize([redcap_pull], resources=_resources(tmp_path, ["HUVR"]), tags={"cartwh/trigger": "landing"})
    assert result.success and _files(tmp_path / "landing") == []


def test_a_failed_pull_fails_the_night_before_anything_is_ingested(server, tmp_path, monkeypatch):
    monkeypatch.setenv("CARTWH_REDCAP_URL", server)
    monkeypatch.setenv("CARTWH_REDCAP_TOKEN", WRONG)
    result = dg.materialize(
        [redcap_pull, *raw_assets()], resources=_resources(tmp_path, ["HUVR"]), raise_on_error=False
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "landing__redcap_pull"
    assert failure.step_failure_data.user_failure_data.description.startswith(
        "REDCap pull failed, nothing was ingested: site HUVR: REDCap refused the API token (HTTP 403 Forbidden"
    )
    assert result.get_asset_materialization_events() == []  # no raw asset ran
    assert all(WRONG not in (e.message or "") for e in result.all_events)
    assert _files(tmp_path / "landing") == []

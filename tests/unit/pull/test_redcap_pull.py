"""`cartwh pull` through PyCap against a REDCap API server on the loopback (tests/fake_redcap.py)
serving REDCapR's longitudinal test project: 3 records, 18 rows (record x event), 12 events in
2 arms, 25 instrument-event mappings."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cartwh import cli
from cartwh.contract.redcap_dictionary import read_dictionary
from cartwh.pull.redcap import Connection, PullError, pull, state_path
from tests.fake_redcap import TOKEN, Project, Server
from tests.paths import REAL_EXPORTS

EXPORTS = REAL_EXPORTS / "redcap" / "longitudinal"
pytestmark = pytest.mark.skipif(not EXPORTS.exists(), reason="../shared/real-exports is not beside the repository")
FIRST = datetime(2026, 1, 5, 2, 0, 0)


def _table(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


@pytest.fixture
def api(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    project = Project.longitudinal(EXPORTS)
    with Server(project) as url:
        yield project, url


@pytest.fixture
def folders(tmp_path):
    return tmp_path / "landing", tmp_path / "archive"


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_first_pull_lands_every_record_and_the_metadata(api, folders):
    project, url = api
    landing, archive = folders
    report = pull(Connection(url, TOKEN), "SITE_A", landing, archive, now=FIRST)
    assert (report.first, report.records_changed, report.rows) == (True, 3, 18)
    assert report.records_file == "redcap/SITE_A/SITE_A_records_20260105T020000.csv"
    assert _files(landing) == [
        "redcap/SITE_A/SITE_A_records_20260105T020000.csv",
        "redcap/SITE_A/arms.json",
        "redcap/SITE_A/dictionary.json",
        "redcap/SITE_A/events.json",
        "redcap/SITE_A/form_event_mapping.json",
    ]
    # The landed records are REDCap's export byte for byte in content: header and every row of data.csv.
    assert _table(landing / report.records_file) == _table(EXPORTS / "data.csv")
    # The landed dictionary reads as the project's own download does.
    landed = read_dictionary(landing / "redcap/SITE_A/dictionary.json")
    assert landed == read_dictionary(EXPORTS / "dictionary.csv")
    assert len(json.loads((landing / "redcap/SITE_A/events.json").read_text())) == 12
    assert len(json.loads((landing / "redcap/SITE_A/form_event_mapping.json").read_text())) == 25
    # Raw codes, flat, all of it, asked with REDCap's own parameter names.
    record_requests = [r for r in project.requests if r["content"] == "record"]
    full = record_requests[-1]
    assert (full["type"], full["rawOrLabel"], full["format"], "dateRangeBegin" in full) == ("flat", "raw", "csv", False)
    state = json.loads(state_path(archive, "SITE_A").read_text())
    assert state == {"url": url, "began": "2026-01-05 02:00:00", "record_ids": ["100", "220", "304"]}
    # The token is in no file written and in no request but as the `token` field.
    assert all(TOKEN not in p.read_text() for p in [*landing.rglob("*.*"), *archive.rglob("*.*")])


def test_incremental_pull_lands_only_the_records_changed_since(api, folders):
    project, url = api
    landing, archive = folders
    pull(Connection(url, TOKEN), "SITE_A", landing, archive, now=FIRST)
    project.change("220", "telephone_1", "(405) 555-0199", when=FIRST + timedelta(hours=5))
    second = FIRST + timedelta(days=1)
    report = pull(Connection(url, TOKEN), "SITE_A", landing, archive, now=second)
    # REDCap was asked for the records changed since the first pull's start, less the 10-minute overlap.
    assert project.requests[-1]["dateRangeBegin"] == "2026-01-05 01:50:00"
    assert (report.first, report.records_changed, report.rows, report.metadata_files) == (False, 1, 6, [])
    header, rows = _table(landing / report.records_file)
    assert header == _table(EXPORTS / "data.csv")[0]
    assert {r[0] for r in rows} == {"220"} and len(rows) == 6
    assert rows[0][header.index("telephone_1")] == "(405) 555-0199"
    # The first pull's file is untouched: the new one is another file version for the ledger.
    assert len(list((landing / "redcap/SITE_A").glob("*.csv"))) == 2


def test_a_record_deleted_upstream_is_reported(api, folders, capsys, monkeypatch):
    project, url = api
    landing, archive = folders
    pull(Connection(url, TOKEN), "SITE_A", landing, archive, now=FIRST)
    project.delete("304")
    monkeypatch.setenv("CARTWH_REDCAP_URL", url)
    monkeypatch.setenv("CARTWH_REDCAP_TOKEN", TOKEN)
    monkeypatch.setenv("CARTWH_LANDING", str(landing))
    monkeypatch.setenv("CARTWH_ARCHIVE", str(archive))
    assert cli.main(["pull", "--site", "SITE_A"]) == 0
    out = capsys.readouterr().out
    assert "1 record(s) deleted in REDCap since the last pull" in out
    assert "0 record(s), 0 row(s)" in out  # nothing else changed: no records file
    [deleted] = list((landing / "redcap/SITE_A").glob("deleted_records_*.json"))
    assert json.loads(deleted.read_text())["record_ids"] == ["304"]
    assert json.loads(state_path(archive, "SITE_A").read_text())["record_ids"] == ["100", "220"]
    assert len(list((landing / "redcap/SITE_A").glob("*.csv"))) == 1


def test_a_bad_token_writes_nothing_and_says_so_without_the_token(api, folders, capsys, monkeypatch):
    _, url = api
    landing, archive = folders
    wrong = "FEDCBA9876543210FEDCBA9876543210"
    refused = r"REDCap refused the API token \(HTTP 403 Forbidden: You do not have permissions to use the API\)"
    with pytest.raises(PullError, match=refused):
        pull(Connection(url, wrong), "SITE_A", landing, archive, now=FIRST)
    monkeypatch.setenv("CARTWH_REDCAP_URL", url)
    monkeypatch.setenv("CARTWH_REDCAP_TOKEN", wrong)
    monkeypatch.setenv("CARTWH_LANDING", str(landing))
    monkeypatch.setenv("CARTWH_ARCHIVE", str(archive))
    assert cli.main(["pull", "--site", "SITE_A"]) == 1
    captured = capsys.readouterr()
    assert "REDCap refused the API token" in captured.err and "Nothing was written" in captured.err
    assert wrong not in captured.err + captured.out
    assert _files(landing) == [] and _files(archive) == []


def test_a_pull_failing_midway_writes_nothing_and_keeps_the_state(api, folders):
    project, url = api
    landing, archive = folders
    pull(Connection(url, TOKEN), "SITE_A", landing, archive, now=FIRST)
    before_landing, before_state = _files(landing), state_path(archive, "SITE_A").read_text()
    project.change("100", "telephone_1", "(405) 555-0100", when=FIRST + timedelta(hours=1))
    project.fail_content = "record"
    with pytest.raises(PullError, match="REDCap's API failed"):
        pull(Connection(url, TOKEN), "SITE_A", landing, archive, now=FIRST + timedelta(days=1))
    assert _files(landing) == before_landing and state_path(archive, "SITE_A").read_text() == before_state
    # The next pull asks from the last successful one, so the change is not lost.
    project.fail_content = None
    report = pull(Connection(url, TOKEN), "SITE_A", landing, archive, now=FIRST + timedelta(days=2))
    assert report.records_changed == 1 and project.requests[-1]["dateRangeBegin"] == "2026-01-05 01:50:00"


@pytest.mark.parametrize(
    "environment, message",
    [
        ({}, "CARTWH_REDCAP_URL is not set"),
        ({"CARTWH_REDCAP_URL": "https://redcap.example.org/"}, "must be the API address, ending in /api/"),
        ({"CARTWH_REDCAP_URL": "https://r.example.org/api/"}, "no API token"),
        (
            {"CARTWH_REDCAP_URL": "https://r.example.org/api/", "CARTWH_REDCAP_TOKEN": "not-a-token-secret"},
            "the token from CARTWH_REDCAP_TOKEN is not a REDCap API token",
        ),
        (
            {"CARTWH_REDCAP_URL": "https://r.example.org/api/", "CARTWH_REDCAP_TOKEN_FILE": "/nonexistent/token"},
            "the token file named by CARTWH_REDCAP_TOKEN_FILE cannot be read",
        ),
    ],
)
def test_connection_settings_errors_never_show_the_token(environment, message):
    from cartwh.pull.redcap import connection_from_environment

    with pytest.raises(PullError, match=message) as error:
        connection_from_environment(environment)
    assert "not-a-token-secret" not in str(error.value)


def test_token_from_a_file(tmp_path):
    from cartwh.pull.redcap import connection_from_environment

    (tmp_path / "token").write_text(TOKEN + "\n")
    connection = connection_from_environment(
        {"CARTWH_REDCAP_URL": "https://r.example.org/api/", "CARTWH_REDCAP_TOKEN_FILE": str(tmp_path / "token")}
    )
    assert connection.token == TOKEN and TOKEN not in repr(connection) and TOKEN not in str(connection)


def test_a_pulled_export_ingests_exactly_as_the_same_export_dropped(tmp_path, generated, monkeypatch):
    """The demo's REDCap export, served by the API and pulled, lands the same raw rows, the same
    pseudonyms and the same quarantine as the file dropped by hand; an unchanged project pulled
    again lands nothing new."""
    from cartwh.contract.redcap import DICTIONARY_PATH, REPEATING_FORMS
    from cartwh.ingest.load import ingest_source
    from cartwh.ingest.warehouse import connect

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    dropped = tmp_path / "dropped"
    generated(dropped)
    [export] = (dropped / "redcap").glob("*.csv")
    for cytometry in (dropped / "cytometry").rglob("*.csv"):
        cytometry.unlink()  # REDCap only

    def ingested(landing: Path, name: str):
        con = connect(tmp_path / f"{name}.duckdb")
        report = ingest_source(con, landing, "redcap", tmp_path / f"{name}-archive")
        query = (
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'raw' AND table_name LIKE 'redcap_%' ORDER BY 1"
        )
        tables = [t for (t,) in con.execute(query).fetchall()]
        counts = {t: con.execute(f"SELECT count(*) FROM raw.{t}").fetchone()[0] for t in tables}
        keys = sorted(con.execute("SELECT DISTINCT patient_key FROM raw.redcap_demographics").fetchall())
        quarantined = con.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0]
        return con, report, counts, keys, quarantined

    _, _, dropped_counts, dropped_keys, dropped_quarantine = ingested(dropped, "dropped")
    project = Project.classic(DICTIONARY_PATH, export, REPEATING_FORMS)
    pulled = tmp_path / "pulled"
    with Server(project) as url:
        report = pull(Connection(url, TOKEN), "HUVR", pulled, tmp_path / "pulled-archive", now=FIRST)
        assert report.rows == len(project.rows) > 0
        con, ingest_report, counts, keys, quarantined = ingested(pulled, "pulled")
        assert ingest_report.files_loaded == [report.records_file]  # the metadata .json files are not record exports
        assert (counts, keys, quarantined) == (dropped_counts, dropped_keys, dropped_quarantine)
        assert dropped_counts["redcap_demographics"] == 24
        again = pull(Connection(url, TOKEN), "HUVR", pulled, tmp_path / "pulled-archive", now=FIRST + timedelta(days=1))
        assert (again.records_file, again.metadata_files) == (None, [])
        assert ingest_source(con, pulled, "redcap", tmp_path / "pulled-archive").files_loaded == []


def test_an_unreadable_pull_state_stops_the_pull_before_anything_is_written(api, folders):
    _, url = api
    landing, archive = folders
    state_path(archive, "SITE_A").parent.mkdir(parents=True)
    state_path(archive, "SITE_A").write_text('{"url": "')  # cut short, as by a full disk
    with pytest.raises(PullError, match="cannot be read: move it away to pull site SITE_A afresh"):
        pull(Connection(url, TOKEN), "SITE_A", landing, archive, now=FIRST)
    assert _files(landing) == []

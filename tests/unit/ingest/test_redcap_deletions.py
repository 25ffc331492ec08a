"""Records deleted in REDCap (cartwh/ingest/deletions.py): the pull's deletion report lands as
tombstones, keyed like the record's rows, and a damaged report fails alone. Through PyCap against the
loopback REDCap server (tests/fake_redcap.py) serving the demo's export. Through dbt to the marts:
tests/e2e/test_redcap_deletions.py."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cartwh.pull.redcap import Connection, pull
from tests.conftest import Warehouse, hmac_pseudonym
from tests.fake_redcap import TOKEN, Server

SECRET = "deletions-test-secret"
FIRST = datetime(2026, 1, 5, 2, 0, 0)


class PulledWarehouse(Warehouse):
    def ingest_redcap(self):
        """What the night's raw assets do: the dictionary, then every source (cytometry: none, its tables empty)."""
        from cartwh.contract.redcap_dictionary import project_dictionary
        from cartwh.ingest.dictionary_tables import publish_dictionary
        from cartwh.ingest.load import SOURCES

        publish_dictionary(self.con, project_dictionary())
        reports = {source: self.ingest(source) for source in SOURCES}
        return reports["redcap"], reports["redcap_deletions"]


@pytest.fixture
def wh(open_warehouse):
    return open_warehouse(PulledWarehouse, SECRET)


def _pull(url: str, wh, now: datetime):
    return pull(Connection(url, TOKEN), "HUVR", wh.landing, wh.archive, now=now)


def test_a_deletion_report_lands_one_tombstone_per_record_keyed_like_its_rows(wh, demo_redcap_project):
    with Server(demo_redcap_project) as url:
        _pull(url, wh, FIRST)
        wh.ingest_redcap()
        demo_redcap_project.delete("7")
        demo_redcap_project.delete("12")
        report = _pull(url, wh, FIRST + timedelta(days=1))
        assert (report.records_file, report.records_deleted) == (None, 2)
        redcap, deletions = wh.ingest_redcap()
    assert redcap.files_loaded == [] and deletions.files_loaded == ["redcap/HUVR/deleted_records_20260106T020000.json"]
    assert deletions.records_read == 3 and deletions.rows_landed == 2 and deletions.records_skipped == 1
    rows = wh.rows(
        "SELECT site, patient_key, deleted_since, found_at, _source_row FROM raw.redcap_deleted_records "
        "ORDER BY _source_row"
    )
    assert rows == [
        ("huvr", hmac_pseudonym(SECRET, "12", "huvr"), FIRST, FIRST + timedelta(days=1), 2),
        ("huvr", hmac_pseudonym(SECRET, "7", "huvr"), FIRST, FIRST + timedelta(days=1), 3),
    ]
    # The tombstone's key is the key the record's rows carry.
    assert wh.rows(
        "SELECT count(DISTINCT patient_key) FROM raw.redcap_demographics WHERE patient_key IN "
        "(SELECT patient_key FROM raw.redcap_deleted_records)"
    ) == [(2,)]
    # A file version like any other: in the ledger, archived, and not loaded twice.
    assert wh.rows(
        "SELECT source, records_read, rows_landed, records_skipped, rows_quarantined FROM raw.landed_files "
        "WHERE source = 'redcap_deletions'"
    ) == [("redcap_deletions", 3, 2, 1, 0)]
    assert wh.ingest("redcap_deletions").files_loaded == []
    # Not an unrecognised file of the REDCap folder: the deletion source reads it.
    assert deletions.files_loaded[0] not in [f.file for f in redcap.files_unrecognised]


def test_a_damaged_deletion_report_fails_alone_naming_the_file(wh):
    folder = wh.landing / "redcap" / "HUVR"
    folder.mkdir(parents=True)
    (folder / "deleted_records_20260106T020000.json").write_text('{"record_ids": ["7"')  # cut short
    report = wh.ingest("redcap_deletions", raise_on_failure=False)
    [failure] = report.failures
    assert failure.file == "redcap/HUVR/deleted_records_20260106T020000.json" and failure.row == 1
    assert "not a deletion report of `cartwh pull`" in str(failure)
    assert wh.rows("SELECT count(*) FROM raw.landed_files") == [(0,)]

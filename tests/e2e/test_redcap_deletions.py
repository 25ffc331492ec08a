"""Records deleted in REDCap (cartwh/ingest/deletions.py, the dbt macro current_rows) leave the marts;
incremental pulls replace the records they hold and leave the others as they were. End to end
through PyCap against the loopback REDCap server (tests/fake_redcap.py) serving the demo's export,
ingestion and dbt."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest

from cartwh.ingest.warehouse import connect
from tests.conftest import hmac_pseudonym, run_dbt
from tests.fake_redcap import Project, Server
from tests.unit.ingest.test_redcap_deletions import FIRST, SECRET, PulledWarehouse, _pull

MARTS = [
    "patients",
    "tumor_burden_transitions",
    "hematotox_scores",
    "time_to_event",
    "car_t_kinetics",
    "car_t_expansion",
    "bca_episodes",
]


@pytest.fixture
def wh(open_warehouse):
    return open_warehouse(PulledWarehouse, SECRET)


def _marts(wh) -> dict[str, list[tuple]]:
    return {m: sorted(wh.rows(f"SELECT * FROM marts.{m}"), key=repr) for m in MARTS}


def _dbt(wh, out: Path, *args: str) -> None:
    wh.con.close()  # dbt is another process: one writer at a time
    done = run_dbt(wh.root / "w.duckdb", out, *args)
    assert done.returncode == 0, done.stdout[-3000:]
    wh.con = connect(wh.root / "w.duckdb")


def _sex_code(project: Project, record: str) -> str:
    return next(r["sex"] for r in project.rows if r["record_id"] == record and r["sex"])


def test_first_pull_incremental_pull_and_a_deletion_through_the_marts(wh, demo_redcap_project, tmp_path):
    with Server(demo_redcap_project) as url:
        first = _pull(url, wh, FIRST)
        wh.ingest_redcap()
        _dbt(wh, tmp_path, "build", "--exclude", "resource_type:test", "resource_type:unit_test")
        before = _marts(wh)
        assert len(before["patients"]) == 24

        # An incremental pull: only record 5 changed (its sex corrected); the others are not re-sent.
        sex = _sex_code(demo_redcap_project, "5")
        corrected = "1" if sex == "2" else "2"
        demo_redcap_project.change("5", "sex", corrected, when=FIRST + timedelta(hours=5))
        second = _pull(url, wh, FIRST + timedelta(days=1))
        with open(wh.landing / second.records_file, newline="") as handle:
            assert {r["record_id"] for r in csv.DictReader(handle)} == {"5"}
        wh.ingest_redcap()

        # Record 7 deleted in REDCap: the next pull reports it.
        demo_redcap_project.delete("7")
        third = _pull(url, wh, FIRST + timedelta(days=2))
        assert (third.records_file, third.records_deleted) == (None, 1)
        deleted = json.loads((wh.landing / "redcap/HUVR/deleted_records_20260107T020000.json").read_text())
        assert deleted["record_ids"] == ["7"]
        wh.ingest_redcap()
    # Three file versions, none superseding another (each pull's records file has its own name).
    assert wh.rows("SELECT file, superseded_by FROM raw.landed_files ORDER BY load_id") == [
        (first.records_file, None),
        (second.records_file, None),
        ("redcap/HUVR/deleted_records_20260107T020000.json", None),
    ]
    _dbt(wh, tmp_path, "run")
    after = _marts(wh)

    seven, five = hmac_pseudonym(SECRET, "7", "huvr"), hmac_pseudonym(SECRET, "5", "huvr")
    for mart in MARTS:  # record 7 is gone from every mart; every other row is as it was, but record 5's
        key = wh.rows(
            f"SELECT list_position(list(column_name ORDER BY column_index), 'patient_key') - 1 "
            f"FROM duckdb_columns() WHERE schema_name = 'marts' AND table_name = '{mart}'"
        )[0][0]
        assert all(r[key] != seven for r in after[mart]), mart
        assert [r for r in after[mart] if r[key] != five] == [r for r in before[mart] if r[key] not in (five, seven)]
    assert len(after["patients"]) == 23
    assert wh.rows("SELECT sex FROM staging.stg_redcap__demographics WHERE patient_key = ?", [five]) == [
        ({"1": "Male", "2": "Female"}[corrected],)
    ]
    # Raw keeps every version: record 7's rows are still there, hidden by the tombstone.
    assert wh.rows("SELECT count(*) FROM raw.redcap_demographics WHERE patient_key = ?", [seven]) == [(1,)]

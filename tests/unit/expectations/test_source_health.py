"""Broken data stops loudly (issue 15; expectations/source_health.py): source-health findings name
the file (or site) and the likely cause and block the night, on exports written here. On the
demo's own export and marts: tests/e2e/test_source_health.py."""

import csv
import shutil

import pytest

from expectations.source_health import data_records, source_health, thresholds
from tests.conftest import Warehouse

LIMITS = thresholds()


def _write(path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


@pytest.fixture
def warehouse(open_warehouse):
    return open_warehouse(Warehouse, "source-health-secret")


def test_the_limits_come_from_the_seed():
    assert LIMITS == {"max_quarantined_share": 0.5, "max_vanished_share_per_site": 0.1, "min_data_rows": 20}


def test_source_health_is_one_blocking_check_of_the_code_location():
    from orchestration.definitions import defs

    (spec,) = [s for c in defs.asset_checks for s in c.check_specs if s.name == "source_health"]
    assert spec.blocking and spec.asset_key.path == ["marts", "patients"]


# --- blocking in proportion (issue 22, defect 9): a lab's file per sample or per month ----------


@pytest.fixture
def lab_files(warehouse, generated):
    """The demo's manifests as the lab writes them: one file per month and panel, 1-3 rows each."""
    generated(warehouse.landing)
    shutil.rmtree(warehouse.landing / "redcap")
    shutil.rmtree(warehouse.landing / "cytometry" / "statistics")
    return sorted((warehouse.landing / "cytometry" / "manifests" / "HUVR").glob("*.csv"))


def _break_rows(path, count: int | None = None) -> int:
    """Empty the record id of the first `count` rows (all: None): each row is quarantined."""
    rows = list(csv.reader(open(path, newline="", encoding="utf-8")))
    body = [
        ["" if c == "record_id" else v for c, v in zip(rows[0], r, strict=True)]
        for r in rows[1 : 1 + count if count else None]
    ]
    _write(path, [rows[0], *body, *rows[1 + len(body) :]])
    return len(body)


def test_one_bad_row_in_a_one_row_file_never_blocks(warehouse, lab_files):
    one_row = next(p for p in lab_files if len(p.read_text().splitlines()) == 2)
    _break_rows(one_row)
    warehouse.ingest("cytometry_manifest")
    assert warehouse.rows("SELECT count(DISTINCT row) FROM raw.quarantine WHERE row > 1") == [(1,)]  # reported
    assert source_health(warehouse.con, LIMITS) == []  # not a reason to stop the night


def test_a_site_whose_small_files_are_mostly_broken_blocks(warehouse, lab_files):
    broken = sum(_break_rows(p) for p in lab_files[: 2 * len(lab_files) // 3])
    warehouse.ingest("cytometry_manifest")
    (finding,) = source_health(warehouse.con, LIMITS)
    total = warehouse.rows("SELECT sum(records_read - records_skipped) FROM raw.landed_files")[0][0]
    assert (finding.check_name, finding.subject) == ("quarantined_share", "site HUVR (cytometry_manifest)")
    assert finding.message.startswith(f"site HUVR (cytometry_manifest): {broken} of the {total} data rows of its")
    assert "required value is empty in column 'record_id'" in finding.message


def test_a_wholly_unreadable_site_export_still_blocks(warehouse, lab_files):
    """A small site whose only, short, delivery lost every row: nothing of the site landed."""
    for path in lab_files[3:]:
        path.unlink()
    broken = sum(_break_rows(p) for p in lab_files[:3])
    warehouse.ingest("cytometry_manifest")
    (finding,) = source_health(warehouse.con, LIMITS)
    assert finding.subject == "site HUVR (cytometry_manifest)" and broken < LIMITS["min_data_rows"]
    assert finding.message.startswith(
        f"site HUVR (cytometry_manifest): nothing of its 3 current files landed, {broken} of their {broken} data rows"
    )


def test_a_non_empty_export_that_lands_nothing_blocks(warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "site7")  # the file's site (its tube keys are per site)
    # FlowJo wrote the tubes but no statistic (every cell empty): each tube row is quarantined
    # ("no statistic in the row"), so the file lands nothing and all its data rows are set aside.
    _write(
        warehouse.landing / "cytometry" / "statistics" / "batch.csv",
        [["Sample", "Leukocytes/Lymphocytes | Count"], ["t1.fcs", ""], ["t2.fcs", ""], ["Mean", ""]],
    )
    warehouse.ingest("cytometry_statistics")
    assert warehouse.rows("SELECT rows_loaded, rows_quarantined FROM raw.landed_files") == [(0, 2)]
    (finding,) = source_health(warehouse.con, LIMITS)
    assert finding.check_name == "quarantined_share" and finding.subject == "cytometry/statistics/batch.csv"
    assert finding.message.startswith("cytometry/statistics/batch.csv: 2 of its 2 data rows quarantined (100 %")
    assert "no statistic in the row" in finding.message


def test_data_records_count_as_a_csv_reader_does(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('Sample,a\n"t1\nstill t1",1\n\nt2,2\nMean,1.5\nSD,0.5\n', encoding="utf-8")
    assert data_records(path) == 2  # an embedded newline, a blank line and the summary rows are not records

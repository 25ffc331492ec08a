"""Broken data stops loudly (issue 15): on the demo's export and marts, source-health findings name
the file (or mart, or site) and the likely cause, block the night, and lead the data-quality report;
a few quarantined rows do not."""

import csv
import shutil

import duckdb
import pytest

from cartwh.quality.quality_report import write_quality_report
from expectations.source_health import source_health, store_findings
from tests.conftest import Warehouse
from tests.unit.expectations.test_source_health import LIMITS, _write


def _demo_export(demo_warehouse) -> list[list[str]]:
    export = next((demo_warehouse.parent / "landing" / "redcap").glob("*.csv"))
    with open(export, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.fixture
def warehouse(open_warehouse):
    return open_warehouse(Warehouse, "source-health-secret")


def test_a_file_mostly_quarantined_blocks_naming_the_file_and_the_reason(warehouse, demo_warehouse):
    rows = _demo_export(demo_warehouse)
    keys = sorted({r[0] for r in rows[1:]})
    broken = set(keys[:18])  # 18 of 24 patients' rows lose their record id: set aside whole
    blanked = [["" if r[0] in broken else r[0], *r[1:]] for r in rows[1:]]
    _write(warehouse.landing / "redcap" / "site_a.csv", [rows[0], *blanked])
    warehouse.ingest()
    data_rows = len(rows) - 1
    quarantined = sum(r[0] in broken for r in rows[1:])
    (finding,) = source_health(warehouse.con, LIMITS)
    assert finding.check_name == "quarantined_share" and finding.subject == "redcap/site_a.csv"
    assert finding.observed == pytest.approx(quarantined / data_rows)
    assert f"redcap/site_a.csv: {quarantined} of its {data_rows} data rows quarantined" in finding.message
    assert "required value is empty in column 'record_id'" in finding.message
    assert "layout or template changed" in finding.message


def test_a_few_quarantined_rows_do_not_block(warehouse, demo_warehouse):
    rows = _demo_export(demo_warehouse)
    _write(warehouse.landing / "redcap" / "site_a.csv", [rows[0], ["", *rows[1][1:]], *rows[2:]])
    warehouse.ingest()
    assert warehouse.rows("SELECT count(*) FROM raw.quarantine") == [(1,)]
    assert source_health(warehouse.con, LIMITS) == []


def test_an_empty_mart_with_sources_that_hold_rows_blocks(demo_warehouse, tmp_path):
    path = tmp_path / "w.duckdb"
    shutil.copyfile(demo_warehouse, path)
    con = duckdb.connect(str(path))
    try:
        assert source_health(con, LIMITS) == []  # the clean demo
        con.execute("DELETE FROM marts.car_t_kinetics")
        (finding,) = source_health(con, LIMITS)
        assert finding.check_name == "empty_mart" and finding.subject == "marts.car_t_kinetics"
        assert "raw.cytometry_samples, raw.cytometry_population_stats" in finding.message
        latest = "SELECT run_id FROM quality.expectation_results ORDER BY checked_at DESC LIMIT 1"
        run = con.execute(latest).fetchall()[0][0]
        store_findings(con, [finding], run)
        page = write_quality_report(con, tmp_path / "reports", tmp_path / "quality").read_text(encoding="utf-8")
        assert page.index("Broken sources: the night is blocked") < page.index("Checks of the latest run")
        assert finding.message in page and "All checks passed" not in page
    finally:
        con.close()


def test_patients_vanishing_from_a_site_block(warehouse, demo_warehouse):
    rows = _demo_export(demo_warehouse)
    export = warehouse.landing / "redcap" / "site_a.csv"
    _write(export, rows)
    warehouse.ingest()
    keys = sorted({r[0] for r in rows[1:]})
    _write(export, [rows[0]] + [r for r in rows[1:] if r[0] != keys[0]])  # one withdrawal: 1 of 24, below 10 %
    warehouse.ingest()
    assert source_health(warehouse.con, LIMITS) == []
    _write(export, [rows[0]] + [r for r in rows[1:] if r[0] not in keys[:4]])  # three more gone since the last version
    warehouse.ingest()
    (finding,) = source_health(warehouse.con, LIMITS)
    assert finding.check_name == "vanished_patients" and finding.subject == "site huvr"
    assert finding.observed == pytest.approx(3 / 23)
    assert finding.message.startswith(
        "site huvr: 3 of its 23 patients are in no current export since a new version "
        "of redcap/site_a.csv replaced the one that held them"
    )

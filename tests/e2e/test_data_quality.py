"""Data quality: every fault the generator injects is found (quarantined at ingestion or by a
Great Expectations check), kind by kind; blocking checks stop the statistics; the clean demo
raises no false alarm; batch suites only read what is new; the distribution check catches a
systematic unit error."""

import shutil

import duckdb
import pytest

from cartwh.generate.faults import CHECKS, INGESTION
from expectations.results import check_suite
from tests.unit.expectations.test_data_quality import SUITES


@pytest.fixture(scope="module")
def faults_run(faults_warehouse):
    root, result, summary, _ = faults_warehouse
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    yield root, result, summary.faults, con
    con.close()


def test_every_injected_fault_kind_is_found_where_the_generator_says(faults_run):
    _, _, faults, con = faults_run
    quarantined = set(con.execute('SELECT file, "row" FROM raw.quarantine').fetchall())
    flagged = set(con.execute("SELECT file, source_row FROM quality.failing_rows").fetchall())
    found = {}
    for fault in faults:
        where = quarantined if fault.caught_by == INGESTION else flagged
        found.setdefault(fault.kind, []).append((fault.file, fault.row) in where)
    assert {kind for kind, hits in found.items() if all(hits)} == {f.kind for f in faults}
    assert {f.caught_by for f in faults} == {INGESTION, CHECKS}
    assert len(found) == 11  # unit_mixup, impossible_value, malformed_value, invalid_code, dates_out_of_order,
    #                         unknown_patient, duplicate_row, truncated_file, identifier_in_free_text,
    #                         identifier_in_file_name, identifier_in_quarantined_value


def test_check_level_faults_carry_their_reason(faults_run):
    _, _, _, con = faults_run
    reasons = dict(
        con.execute(
            "SELECT suite || '.' || column_name, any_value(why) FROM quality.failing_rows GROUP BY 1"
        ).fetchall()
    )
    assert "mg/L value labelled mg/dL" in reasons["raw_laboratory.crp_value"]
    assert "infusion (day 0) follows lymphodepletion" in reasons["raw_patient_dates.infusion_date vs ld_start_date"]
    assert "not in the EDC demographics" in reasons["raw_cytometry_samples.known_patient"]


def test_blocking_checks_stop_the_statistics_and_say_why(faults_run):
    root, result, _, con = faults_run
    assert not result.success
    failed = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed["marts_patients"].severity.value == "ERROR"
    assert "infusion before lymphodepletion" in failed["marts_patients"].description
    materialized = {"/".join(e.asset_key.path) for e in result.get_asset_materialization_events()}
    assert "marts/patients" in materialized and not any(k.startswith(("analytics/", "reports/")) for k in materialized)
    assert not con.execute("SELECT 1 FROM duckdb_tables() WHERE schema_name = 'analytics'").fetchall()
    page = (root / "reports" / "data_quality.html").read_text(encoding="utf-8")
    assert "The marts cannot be trusted" in page
    # the file to fix is named in the data manager's restricted report, not in the analysts' page
    assert "cart_monitoring_huvr" in (root / "data_manager" / "data_manager.html").read_text(encoding="utf-8")
    assert con.execute("SELECT status, blocking_checks_failed > 0 FROM ops.run_history").fetchall() == [
        ("blocked", True)
    ]
    assert not (root / "published" / "warehouse.duckdb").exists()  # nothing trustworthy was ever published


def test_clean_demo_passes_every_check(demo_warehouse):
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        results = con.execute("SELECT suite, bool_and(success) FROM quality.expectation_results GROUP BY 1").fetchall()
    finally:
        con.close()
    assert dict(results) == {name: True for name in SUITES}
    data = demo_warehouse.parent
    assert (data / "quality" / "data_docs" / "index.html").exists()
    assert "All checks passed" in (data / "reports" / "data_quality.html").read_text(encoding="utf-8")


@pytest.fixture
def demo_copy(demo_warehouse, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_warehouse, path)
    con = duckdb.connect(str(path))
    yield con, tmp_path / "quality"
    con.close()


def test_batch_suites_read_only_new_files(demo_copy):
    con, gx_root = demo_copy
    again = check_suite(con, SUITES["raw_laboratory"], gx_root, run_id="again")
    assert again.rows_validated == 0 and again.outcomes == []
    mart = check_suite(con, SUITES["marts_patients"], gx_root, run_id="again")
    assert mart.rows_validated == 24 and not mart.failed


def test_distribution_check_catches_a_systematic_crp_unit_error(demo_copy):
    con, gx_root = demo_copy
    con.execute("UPDATE marts.patients SET pre_ld_crp_mg_dl = pre_ld_crp_mg_dl * 10")  # a site sending mg/L as mg/dL
    outcome = check_suite(con, SUITES["marts_patients"], gx_root, run_id="unit-error")
    assert outcome.blocking_failed
    failed = {(o.expectation.type, o.expectation.column) for o in outcome.failed}
    assert ("ExpectColumnMedianToBeBetween", "pre_ld_crp_mg_dl") in failed  # the cohort median, not only outliers
    assert {column for _, column in failed} == {"pre_ld_crp_mg_dl"}

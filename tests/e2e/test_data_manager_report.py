"""The two data-quality reports of the faults run (the session's faults warehouse: no run of its own).

The data manager's report (restricted) names, for EACH fault the generator injected, one root
cause with the record id, site, form, field and what to do; the knock-ons (the tubes of the patient
whose demographics row was quarantined, the statistics row of a renamed FCS file, the mart rows of
a patient whose lab or marrow row was set aside) are grouped under their cause, never issues of
their own. The analysts' page groups the same root causes with counts and no record id or file
name. A corrected re-export the next night shows the fault as fixed and the others as still open.

Expected record ids and forms come from the landed export and the data dictionary, read here
with csv and the dictionary, not from the report's code."""

from __future__ import annotations

import csv
import shutil
import stat

import duckdb
import pytest

from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.ingest.load import ingest_source
from cartwh.quality.data_manager_report import HISTORY_FILE, REPORT_FILE, write_data_manager_report
from cartwh.quality.quality_report import store_root_causes
from cartwh.quality.root_causes import UNKNOWN_PATIENT, root_causes
from cartwh.warehouse.publish import publish
from expectations.results import check_suite
from expectations.suites import all_suites


@pytest.fixture(scope="module")
def faults(faults_warehouse):
    root, _, summary, _ = faults_warehouse
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    yield root, summary, root_causes(con, root / "archive")
    con.close()


def _landed_row(summary, file: str, row: int) -> dict:
    with open(summary.landing / file, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))[row - 2]  # the header is row 1


def _where_found(issues, fault):
    """The root cause at the fault's file and row, and whether the fault is one of its knock-ons."""
    for issue in issues:
        if (issue.file, issue.row) == (fault.file, fault.row):
            return issue, False
        if any((c.file, c.row) == (fault.file, fault.row) for c in issue.consequences):
            return issue, True
    return None, None


def test_every_injected_fault_has_one_root_cause_with_record_form_field_and_action(faults):
    root, summary, issues = faults
    dictionary = project_dictionary()
    for fault in summary.faults:
        issue, knock_on = _where_found(issues, fault)
        assert issue is not None, fault
        if fault.file.startswith("redcap/"):
            landed = _landed_row(summary, fault.file, fault.row)
            assert (issue.site, issue.record_id) == ("huvr", landed["record_id"]), fault
            expected_form = dictionary.field(fault.column).form if fault.column else landed["redcap_repeat_instrument"]
            assert issue.form == expected_form, fault
            if landed["redcap_repeat_instance"] and fault.kind != "dates_out_of_order":
                assert issue.instance == landed["redcap_repeat_instance"], fault
            assert f"record {landed['record_id']} (site huvr" in issue.action, fault
        elif fault.file.startswith("cytometry/manifests/"):
            assert issue.record_id == _landed_row(summary, fault.file, fault.row)["record_id"], fault
        if fault.column and not knock_on and fault.kind not in ("duplicate_row", "truncated_file"):
            assert fault.column in (issue.field or ""), fault
        assert issue.action and issue.file, fault
    # One issue per fault, but the statistics twin of the renamed FCS file, a knock-on of its manifest row.
    assert len(issues) == len(summary.faults) - 1


def test_actions_say_what_to_do_in_a_sentence(faults):
    root, summary, issues = faults
    (sex,) = [f for f in summary.faults if f.kind == "invalid_code"]
    record = _landed_row(summary, sex.file, sex.row)["record_id"]
    actions = {i.field: i.action for i in issues}
    assert actions["sex"] == (
        f"correct sex in demographics of record {record} (site huvr) in REDCap "
        "(exported '9': not one of the allowed codes (1, 2)), then re-export"
    )
    assert actions["record_id"].startswith("record X-999999 (site huvr) is named in cytometry/manifests/")
    assert "REDCap has no such record" in actions["record_id"]
    assert actions["bt_regimen"].startswith("remove the patient's name from bt_regimen in bridging_therapy of record ")


def test_knock_ons_are_grouped_under_their_one_cause(faults_warehouse, faults):
    root, summary, issues = faults
    (sex,) = [i for i in issues if i.field == "sex"]
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        tubes = con.execute(
            "SELECT count(*) FROM quality.failing_rows WHERE suite = 'raw_cytometry_samples' "
            "AND column_name = 'known_patient' AND patient_key = ?",
            [sex.patient_key],
        ).fetchall()
    finally:
        con.close()
    assert tubes[0][0] >= 10 and len(sex.consequences) == tubes[0][0]  # every unknown-patient tube of that record
    assert all(c.file.startswith("cytometry/manifests/") for c in sex.consequences)
    assert [i for i in issues if i.kind == UNKNOWN_PATIENT and i.patient_key == sex.patient_key] == []
    (dates,) = [i for i in issues if i.field == "infusion_date vs ld_start_date"]
    assert any(
        c.what.startswith("marts_patients ExpectColumnPairValuesAToBeGreaterThanB") and c.severity == "blocking"
        for c in dates.consequences
    )
    (blasts,) = [i for i in issues if i.field == "bm_blasts_pct"]
    assert any("hematotox_score): missing: marrow_blasts" in c.what for c in blasts.consequences)  # the mart's reason


def test_the_data_manager_report_is_restricted_and_the_analysts_page_names_no_record(faults):
    root, summary, issues = faults
    report = root / "data_manager" / REPORT_FILE
    assert stat.S_IMODE(report.stat().st_mode) == 0o600 and stat.S_IMODE(report.parent.stat().st_mode) == 0o700
    page = report.read_text(encoding="utf-8")
    assert "X-999999" in page and "correct sex in demographics of record " in page
    analysts = (root / "reports" / "data_quality.html").read_text(encoding="utf-8")
    assert "Open issues by root cause" in analysts and "nan" not in analysts.split("Open issues by root cause")[1]
    assert "X-999999" not in analysts
    for file in {f.file for f in summary.faults}:
        assert file.rsplit("/", 1)[-1] not in analysts, file  # file names stay with the data manager
    assert "blocked" in analysts.split("Last nights")[1]  # the blocked run itself, recorded before the page


def test_since_last_night_a_corrected_re_export_is_fixed(faults_warehouse, faults, tmp_path):
    root, summary, issues = faults
    data = tmp_path / "data"
    shutil.copytree(root, data, ignore=shutil.ignore_patterns("*.lock", "logs", "published", "reports"))
    (sex,) = [f for f in summary.faults if f.kind == "invalid_code"]
    path = data / "landing" / sex.file
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[sex.row - 1][rows[0].index("sex")] = sex.detail.split(" -> ")[0]  # the value before the fault
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    con = duckdb.connect(str(data / "warehouse.duckdb"))
    try:
        ingest_source(con, data / "landing", "redcap", data / "archive")
        for suite in all_suites():
            if suite.scope == "batch" and suite.guards.startswith("raw/redcap_"):
                check_suite(con, suite, data / "quality", run_id="night-2")
        write_data_manager_report(con, data / "data_manager", data / "archive")
    finally:
        con.close()
    page = (data / "data_manager" / REPORT_FILE).read_text(encoding="utf-8")
    assert "0 new</b>, <b>1 fixed</b>, <b>14 still open</b>" in page
    (fixed,) = [v for v in _nights(data)[-2]["issues"].values() if v["title"] == "not one of the allowed codes (1, 2)"]
    assert f"<td>fixed</td><td>{fixed['where']}</td>" in page and "form demographics" in fixed["where"]


def test_the_published_copy_carries_the_root_causes_and_no_record_id(faults_warehouse, faults, tmp_path):
    """The faults night is blocked and publishes nothing: publish a copy of it here, as a night
    that published would, and look for the one non-numeric record id of the cohort, X-999999."""
    root, summary, issues = faults
    working = tmp_path / "warehouse.duckdb"
    shutil.copyfile(root / "warehouse.duckdb", working)
    con = duckdb.connect(str(working))
    try:
        store_root_causes(con)
        published = publish(con, tmp_path / "published" / "warehouse.duckdb")
    finally:
        con.close()
    con = duckdb.connect(str(published), read_only=True)
    try:
        groups = con.execute("SELECT kind, form, field, issues, consequences FROM quality.root_causes").fetchall()
        columns = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns WHERE data_type = 'VARCHAR'"
        ).fetchall()
        leaks = [
            c
            for c in columns
            if con.execute(f'SELECT count(*) FROM "{c[0]}"."{c[1]}" WHERE contains("{c[2]}", \'X-999999\')').fetchall()
            != [(0,)]
        ]
    finally:
        con.close()
    (sex,) = [i for i in issues if i.field == "sex"]
    assert ("set aside at ingestion", "demographics", "sex", 1, len(sex.consequences)) in groups
    assert sum(g[3] for g in groups) == len(issues)
    assert leaks == [] and "record_id" not in {c[2] for c in columns}


def _nights(data):
    import json

    return json.loads((data / "data_manager" / HISTORY_FILE).read_text(encoding="utf-8"))["nights"]

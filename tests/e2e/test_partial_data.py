"""Partial data runs what it can (issue 15): a blocking check blocks only what depends on it, and
the report renders whatever is missing."""

import csv
import re
import shutil

import dagster as dg
import duckdb
import pytest

from assets.checks import check_result
from cartwh.report.render import render_report
from cartwh.study.blocking import NO_BLOCKS, is_blocked, read_blocks
from cartwh.study.compute import compute_analytics
from cartwh.study.config import load_plan
from expectations.results import check_suite
from expectations.suites import all_suites

SUITES = {s.name: s for s in all_suites()}


# --- a blocking check blocks what depends on it -------------------------------------------


@pytest.fixture
def demo_copy(demo_warehouse, tmp_path):
    """A writable copy of the demo warehouse (marts, analytics) to break by hand."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_warehouse, path)
    con = duckdb.connect(str(path))
    yield con, tmp_path
    con.close()


def _analytics(con, plan, blocks=NO_BLOCKS):
    return compute_analytics(con, plan, blocks)


def test_every_blocks_column_is_a_column_of_marts_patients(demo_warehouse):
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        columns = {
            c
            for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'marts' AND table_name = 'patients'"
            ).fetchall()
        }
    finally:
        con.close()
    scoped = {c for s in all_suites() for e in s.expectations if e.blocks for c in e.blocks}
    assert scoped and scoped <= columns
    assert all(e.severity == "blocking" for s in all_suites() for e in s.expectations if e.blocks)


def test_no_pre_ld_labs_blocks_the_hematotox_analyses_and_the_rest_runs(demo_copy):
    con, root = demo_copy
    plan = load_plan()
    before = con.execute(
        "SELECT p_value FROM analytics.survival_tests WHERE analysis = 'by_bridging_group' AND endpoint = 'EFS'"
    ).fetchall()
    con.execute(
        "UPDATE marts.patients SET pre_ld_crp_mg_dl = NULL, pre_ld_anc_1e9_per_l = NULL, pre_ld_hemoglobin_g_dl = NULL"
    )
    outcome = check_suite(con, SUITES["marts_patients"], root / "quality", run_id="no-labs")
    failed = {o.expectation.column for o in outcome.failed}
    assert failed == {"pre_ld_crp_mg_dl", "pre_ld_anc_1e9_per_l", "pre_ld_hemoglobin_g_dl"}  # the three medians
    assert outcome.blocking_failed and not outcome.blocks_everything
    assert check_result(outcome).severity == dg.AssetCheckSeverity.WARN  # Dagster lets the statistics run

    blocks = read_blocks(con, "no-labs")
    assert set(blocks.reasons) == {
        "pre_ld_crp_mg_dl",
        "pre_ld_anc_1e9_per_l",
        "pre_ld_hemoglobin_g_dl",
        "hematotox_score",
        "nair_risk_group",
        "modified_risk_group",
    }
    _analytics(con, plan, blocks)
    tests = dict(
        con.execute("SELECT analysis || '/' || endpoint, coalesce(reason, '') FROM analytics.survival_tests").fetchall()
    )
    anc = (
        "not estimable: blocked by marts_patients ExpectColumnMedianToBeBetween(pre_ld_anc_1e9_per_l) "
        "(distribution check"
    )
    assert tests["by_nair_risk_group/EFS"].startswith(anc) and tests["by_modified_risk_group/EFS"].startswith(anc)
    assert tests["by_nair_risk_group/EFS"].endswith("; no value to check)")  # no labs: no median to take
    assert not con.execute("SELECT * FROM analytics.km_estimates WHERE analysis LIKE '%risk_group'").fetchall()
    # EFS by bridging group uses no lab: computed, exactly as on the unblocked demo
    assert (
        con.execute(
            "SELECT p_value FROM analytics.survival_tests WHERE analysis = 'by_bridging_group' AND endpoint = 'EFS'"
        ).fetchall()
        == before
    )
    cox = dict(con.execute("SELECT analysis, coalesce(reason, '') FROM analytics.cox_models").fetchall())
    assert cox["efs_nair_risk_group"].startswith("not estimable: blocked by") and cox["efs_bridging_group"] == ""
    rows = dict(
        con.execute(
            "SELECT variable, any_value(coalesce(test_reason, '')) FROM analytics.group_comparisons "
            "WHERE analysis = 'table_1' GROUP BY 1"
        ).fetchall()
    )
    assert rows["pre_ld_crp_mg_dl"].startswith("not estimable: blocked by marts_patients")
    assert rows["nair_risk_group"].startswith("not estimable: blocked by")
    assert not is_blocked(rows["pre_ld_platelets_1e9_per_l"])

    html = render_report(con, plan, root / "reports").read_text(encoding="utf-8")
    assert html.count("<svg") == 15  # the demo's 17 panels but Figure 3A and 3B
    assert html.count("not estimable: blocked by marts_patients") >= 2 + 2 + 5  # panels, survival rows, Table 1
    assert not (root / "reports" / "figures" / "figure_3A.png").exists()


# --- the report always renders ------------------------------------------------------------


def test_an_empty_group_renders_with_the_group_marked(demo_copy):
    con, root = demo_copy
    con.execute("UPDATE marts.patients SET bridging_group = 'chemotherapy'")
    plan = load_plan()
    _analytics(con, plan)
    test = con.execute(
        "SELECT p_value, reason FROM analytics.survival_tests WHERE analysis = 'by_bridging_group' AND endpoint = 'EFS'"
    ).fetchall()
    assert test[0][0] is None and test[0][1]  # one group: no log-rank, and it says why
    html = render_report(con, plan, root / "reports").read_text(encoding="utf-8")
    assert html.count("<svg") == 17  # every panel draws (Figure 1A with its one group), Figures 6-7 included
    text = re.sub(r"<[^>]+>", " ", html)
    # the survival table's EFS section: the chemotherapy group's row, then the empty group's reason
    assert re.search(
        r"Event-free survival \(EFS\)(?:(?!\(OS\)).)*?Bridging therapy\s+Chemo(?:(?!\(OS\)).)*?\s+Inotuzumab\s+"
        r"not estimable: no patient in this group",
        text,
        re.S,
    )
    assert "Inotuzumab (N = 0)" in text


def test_a_cohort_without_cytometry_renders_what_it_can_and_says_why_for_the_rest(demo_copy):
    con, root = demo_copy
    cytometry = [
        c
        for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' AND table_name = 'patients' "
            "AND regexp_matches(column_name, 'car_t|car_of|scm|auc|peak|expanded|bca|b_cells|car_neg')"
        ).fetchall()
    ]
    con.execute("UPDATE marts.patients SET " + ", ".join(f"{c} = NULL" for c in cytometry))
    con.execute("DELETE FROM marts.car_t_kinetics")
    con.execute("DELETE FROM marts.time_to_event WHERE paramcd = 'BCA'")
    plan = load_plan()
    _analytics(con, plan)
    html = render_report(con, plan, root / "reports").read_text(encoding="utf-8")
    # Figures 1-3: EFS by bridging, burden, transition, both Hematotox groupings; Figure 6: relapse and NRM
    assert html.count("<svg") == 7
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "not estimable: no patient has a BCA row" in text  # Figure 7, loss of B-cell aplasia by cause
    assert "not estimable: no CAR-T/µL measurement after infusion" in text  # Figure 4D
    assert "not estimable: no patient has a value of pct_scm_of_cd8_car_t_at_peak" in text  # Figure 5A
    assert "not estimable: no patient has a value of peak_car_t_per_ul" in text  # Table 3
    assert re.search(r"Female, n \(%\) 5 \(50\) 4 \(28.6\) 9 \(37.5\)", text)  # Table 1 as on the demo (paper: 5/4)


# --- a real cohort of clinical records only, through the whole night ----------------------


def strip_to_clinical_records(landing):
    """A new site's retrospective cohort: no cytometry exported yet, no laboratory form rows."""
    shutil.rmtree(landing / "cytometry")
    for export in (landing / "redcap").glob("*.csv"):
        with open(export, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        instrument = rows[0].index("redcap_repeat_instrument")
        with open(export, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle, lineterminator="\n").writerows(r for r in rows if r[instrument] != "laboratory")


@pytest.fixture(scope="module")
def clinical_only(cohort):
    root, result, _ = cohort("clinical-only", prepare=strip_to_clinical_records)
    con = duckdb.connect(str(root / "published" / "warehouse.duckdb"), read_only=True)
    yield root, result, con
    con.close()


def test_clinical_records_only_publish_what_they_can(clinical_only):
    root, result, con = clinical_only
    assert result.success  # nothing blocks everything: the night publishes
    working = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        assert working.execute("SELECT count(*) FROM raw.cytometry_population_stats").fetchall() == [(0,)]
        assert working.execute("SELECT status FROM ops.run_history").fetchall() == [("published",)]
    finally:
        working.close()
    # EFS and OS need neither labs nor cytometry: 24 patients, 9 EFS events and 6 deaths, as the demo
    whole = con.execute(
        "SELECT endpoint, max(at_risk), sum(events) FROM analytics.km_estimates "
        "WHERE analysis = 'whole_cohort' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert whole == [("EFS", 24, 9), ("OS", 24, 6)]
    tests = dict(
        con.execute(
            "SELECT analysis, coalesce(test, reason) FROM analytics.survival_tests WHERE endpoint = 'EFS'"
        ).fetchall()
    )
    assert tests["by_bridging_group"] == "log-rank" and tests["by_post_bt_tumor_burden"] == "log-rank"
    assert tests["by_nair_risk_group"].startswith(
        "not estimable: blocked by marts_patients ExpectColumnMedianToBeBetween"
    )
    html = (root / "reports" / "study_report.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 5  # Figures 1A, 1B, 2, 6A, 6B; Hematotox blocked, no cytometry for 4, 5, 7
    for reason in [
        "not estimable: blocked by marts_patients",
        "not estimable: no CAR-T/µL measurement",
        "not estimable: no patient has a value of pct_scm_of_cd8_car_t_at_peak",
    ]:
        assert reason in html, reason
    quality = (root / "reports" / "data_quality.html").read_text(encoding="utf-8")
    assert "Some analyses are blocked" in quality and "Broken sources" not in quality

"""The statistics and the study report, from the demo cohort through the real main job.

Count cells are compared with the paper's Tables 1-3 (fixture typed from the paper) and
p-values with the ones docs/definitions.md computes from the paper's own counts, test named.
"""

import json
import math
import re

import duckdb
import pytest

from cartwh.study.analytics_tables import ANALYTICS_TABLES
from tests.paths import FIXTURES

PAPER = json.loads((FIXTURES / "paper_table_counts.json").read_text())

# Fixture cell -> (table, variable, level) of analytics.group_comparisons.
CELLS = {
    "female": ("table_1", "sex", "Female"),
    "prior_allogeneic_hsct": ("table_1", "prior_hsct", None),
    "prior_blinatumomab": ("table_1", "prior_blinatumomab", None),
    "em_disease_prior_to_bt": ("table_1", "pre_bt_em_disease", None),
    "transition_low_to_low": ("table_1", "tumor_burden_transition", "low→low"),
    "transition_high_to_low": ("table_1", "tumor_burden_transition", "high→low"),
    "transition_high_to_high": ("table_1", "tumor_burden_transition", "high→high"),
    "undetectable_mrd_pre_ld": ("table_1", "undetectable_mrd_pre_ld", None),
    "hematotox_nair_low": ("table_1", "nair_risk_group", "low"),
    "hematotox_nair_high": ("table_1", "nair_risk_group", "high"),
    "hematotox_modified_low": ("table_1", "modified_risk_group", "low"),
    "hematotox_modified_intermediate": ("table_1", "modified_risk_group", "intermediate"),
    "hematotox_modified_high": ("table_1", "modified_risk_group", "high"),
    "crs_any": ("table_2", "crs_any", None),
    "crs_grade_1": ("table_2", "crs_grade_band", "1"),
    "crs_grade_2": ("table_2", "crs_grade_band", "2"),
    "crs_grade_3_or_more": ("table_2", "crs_grade_band", "≥3"),
    "iec_hs": ("table_2", "iec_hs", None),
    "icans": ("table_2", "icans_any", None),
    "tocilizumab": ("table_2", "tocilizumab", None),
    "corticosteroids": ("table_2", "corticosteroids", None),
    "anakinra_or_siltuximab": ("table_2", "anakinra_or_siltuximab", None),
    "d28_cr": ("table_2", "d28_response", "CR"),
    "d28_cri": ("table_2", "d28_response", "CRi"),
    "d28_mrd_negative": ("table_2", "d28_mrd_negative", None),
    "relapse_after_car_t": ("table_2", "relapsed", None),
    "bca_persistent": ("table_2", "bca_outcome", "persistent"),
    "bca_lost_or_event": ("table_2", "bca_lost", None),
    "bca_cd19_negative_relapse": ("table_2", "bca_outcome", "cd19_negative_relapse_during_bca"),
    "bca_consolidative_hsct": ("table_2", "bca_outcome", "consolidative_hsct_during_bca"),
    "bca_recovery_in_remission": ("table_2", "bca_outcome", "b_cell_recovery_in_remission"),
    "expansion_above_5_per_ul": ("table_3", "expanded", None),
    "phenotype_studied_at_peak": ("table_3", "phenotype_at_peak_available", None),
}

# docs/definitions.md "Statistics": "recomputed from the paper's own counts", with the test that reproduces each.
DOMAIN_P_VALUES = {
    ("table_1", "prior_blinatumomab", None): ("Fisher's exact", 0.163),
    ("table_1", "undetectable_mrd_pre_ld", None): ("Fisher's exact", 0.032),
    ("table_2", "bca_outcome", "cd19_negative_relapse_during_bca"): ("Fisher's exact", 0.114),
    ("table_1", "tumor_burden_transition", "low→low"): ("Pearson chi-square", 0.032),
    ("table_2", "tocilizumab", None): ("Pearson chi-square", 0.098),
}


@pytest.fixture(scope="module")
def analytics(demo_warehouse):
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    yield con
    con.close()


def _comparison(con, table, variable, level):
    return con.execute(
        'SELECT "group", count, test, p_value FROM analytics.group_comparisons '
        "WHERE analysis = ? AND variable = ? AND level IS NOT DISTINCT FROM ? AND subset IS NULL",
        [table, variable, level],
    ).fetchall()


def test_every_analytics_table_is_written_with_its_provenance(analytics):
    snapshots = set()
    for name in ANALYTICS_TABLES:
        n, missing, snapshot = analytics.execute(
            f"SELECT count(*), count(*) FILTER (WHERE analysis IS NULL OR code_version IS NULL), "
            f"any_value(mart_snapshot) FROM analytics.{name}"
        ).fetchall()[0]
        assert n > 0 and missing == 0, name
        snapshots.add(snapshot)
    assert len(snapshots) == 1 and snapshots.pop().startswith("sha256:")


def test_table_count_cells_equal_the_paper(analytics):
    found = {}
    for cell, key in CELLS.items():
        counts = {group: count for group, count, *_ in _comparison(analytics, *key)}
        found[cell] = [counts["inotuzumab"], counts["chemotherapy"]]
    assert found == {cell: PAPER[cell] for cell in CELLS}


def test_p_values_equal_domain_md_with_the_named_test(analytics):
    for key, (test, p) in DOMAIN_P_VALUES.items():
        rows = _comparison(analytics, *key)
        assert {(r[2], round(r[3], 3)) for r in rows} == {(test, p)}, key


def test_survival_tables_are_consistent_with_the_endpoints(analytics):
    whole = analytics.execute(
        "SELECT endpoint, max(at_risk), sum(events) FROM analytics.km_estimates "
        "WHERE analysis = 'whole_cohort' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert whole == [("EFS", 24, 9), ("OS", 24, 6)]  # marts.time_to_event: 9 EFS events, 6 deaths
    tests = dict(analytics.execute("SELECT analysis || '/' || endpoint, test FROM analytics.survival_tests").fetchall())
    assert tests["by_bridging_group/EFS"] == "log-rank"
    assert tests["by_modified_risk_group/EFS"] == "k-group log-rank"
    landmark = analytics.execute(
        "SELECT count(*) FROM analytics.km_estimates WHERE analysis = 'by_car_neg_scm_m3' AND time_origin_months = 2.99"
    ).fetchall()[0][0]
    assert landmark > 0
    follow = analytics.execute(
        "SELECT median_months FROM analytics.follow_up WHERE endpoint = 'OS' AND \"group\" = 'All patients'"
    ).fetchall()
    assert follow[0][0] > 0


def test_report_has_tables_figures_and_methods(demo_warehouse):
    reports = demo_warehouse.parent / "reports"
    html = (reports / "study_report.html").read_text(encoding="utf-8")
    for text in ["Table 1.", "Table 2.", "Table 3.", "Methods", "Data quality", "log-rank", "Number at risk"]:
        assert text in html, text
    for figure in ["1", "2", "3", "4", "5", "6", "7"]:
        assert f"<b>Figure {figure}.</b>" in html
    panels = sorted(p.name for p in (reports / "figures").glob("*.png"))
    assert len(panels) == 17 and html.count("<svg") == 17  # 2 + 1 + 2 + 4 + 3 + 2 + 3 panels


def test_report_holds_no_direct_identifier(demo_warehouse, demo_identifiers):
    html = (demo_warehouse.parent / "reports" / "study_report.html").read_text(encoding="utf-8")
    assert demo_identifiers
    for value in demo_identifiers:
        assert value not in html, value


def test_panels_are_lettered_once_by_the_report_at_one_size(demo_warehouse):
    import re

    reports = demo_warehouse.parent / "reports"
    html = (reports / "study_report.html").read_text(encoding="utf-8")
    # Figures 1, 3 and 6 have A-B, 4 A-D, 5 and 7 A-C: 16 letters beside the images; Figure 2 has one panel
    assert re.findall(r'<span class="letter">([A-Z])</span>', html) == list("ABABABCDABCABABC")
    svgs = [p.read_text(encoding="utf-8") for p in sorted((reports / "figures").glob("*.svg"))]
    lone_letters = [t for svg in svgs for t in re.findall(r"<text[^>]*>\s*([A-Z])\s*</text>", svg)]
    assert lone_letters == []  # and none inside an image
    assert len({re.search(r'<svg[^>]* width="([^"]+)" height="([^"]+)"', svg).groups() for svg in svgs}) == 1


def test_demo_competing_risks_and_separated_cox_model(analytics, demo_warehouse):
    # The demo's REL endpoint: 9 relapses (the paper's "Relapse after CAR-T"), no death without
    # relapse, one consolidative HSCT in remission (competing by the plan's choice); its BCA
    # endings are Table 2's: 11 B-cell recoveries, 4 CD19-negative relapses, 1 HSCT, 8 persistent.
    events = dict(
        analytics.execute(
            "SELECT cause, events FROM analytics.competing_risk_landmarks "
            "WHERE analysis = 'relapse_and_nrm' AND \"group\" = 'All patients'"
        ).fetchall()
    )
    assert events == {"relapse": 9, "death": 0, "consolidative_hsct": 1}
    bca = dict(
        analytics.execute(
            "SELECT cause, events FROM analytics.competing_risk_landmarks "
            "WHERE analysis = 'bca_loss_by_cause' AND \"group\" = 'All patients'"
        ).fetchall()
    )
    assert bca == {"b_cell_recovery": 11, "cd19_negative_relapse": 4, "relapse": 0, "consolidative_hsct": 1, "death": 0}
    gray = dict(
        analytics.execute(
            "SELECT analysis || '/' || cause, p_value FROM analytics.competing_risk_tests WHERE p_value IS NOT NULL"
        ).fetchall()
    )
    assert {
        "relapse_and_nrm/relapse",
        "bca_loss_by_cause/b_cell_recovery",
        "bca_loss_by_cause/cd19_negative_relapse",
    } <= set(gray)
    # The Nair risk groups separate EFS (every high-risk patient fails before the low-risk events):
    # no partial-likelihood estimate, but its LR and score tests, and Firth's fit.
    rows = analytics.execute(
        "SELECT method, hazard_ratio, likelihood_ratio_p, score_p FROM analytics.cox_models "
        "WHERE analysis = 'efs_nair_risk_group' ORDER BY method"
    ).fetchall()
    (cox, firth) = rows
    assert cox[0] == "cox" and (cox[1] is None or math.isnan(cox[1]))
    assert cox[2] < 0.001 and cox[3] < 0.001
    assert firth[0] == "firth" and firth[1] > 1 and firth[2] < 0.001
    html = (demo_warehouse.parent / "reports" / "study_report.html").read_text(encoding="utf-8")
    for text in [
        "Relapse and non-relapse mortality",
        "Loss of B-cell aplasia by cause",
        "Gray's test",
        "Firth (coxphf)",
    ]:
        assert text in html, text


def test_the_report_prints_to_an_a4_pdf(demo_warehouse):
    from cartwh.report.pdf import find_chromium

    pdf = demo_warehouse.parent / "reports" / "study_report.pdf"
    if find_chromium() is None:  # `make run` without a browser: no PDF, and no stale one either
        assert not pdf.exists()
        return
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    boxes = {
        tuple(round(float(v)) for v in box) for box in re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    }
    assert boxes == {(595, 842)}  # A4 in points, every page
    pages = len(re.findall(rb"/Type\s*/Page\b", data))
    assert 5 <= pages <= 14  # printed with the page's print stylesheet (18 Letter pages before it existed)

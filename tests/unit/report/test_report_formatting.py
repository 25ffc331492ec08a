"""How degenerate estimates and test methods print in the report (strings written out)."""

import math

import pandas as pd

from cartwh.report import formatting as fmt
from cartwh.report.tables import display_table
from cartwh.study.config import load_plan

NAN = math.nan


def test_survival_with_no_events_says_so():
    assert fmt.survival_percent(1.0, 1.0, 1.0) == "100 % (no events)"
    assert fmt.survival_percent(0.658, 0.431, 0.812) == "65.8 % (43.1–81.2)"
    assert fmt.survival_percent(0.5, 0.2, 0.75) == "50 % (20–75)"
    assert fmt.km_mean_with_ci(14.13, 14.13, 14.13, 0) == "no events"
    assert fmt.km_mean_with_ci(7.58, 0.0, 16.1, 4) == "7.58 (0–16.1)"


def test_median_cells_by_interval_method():
    assert fmt.median_with_ci(23, 13, NAN, "band") == "23 (13–NR)"
    assert fmt.median_with_ci(14, NAN, NAN, "se") == "14 (CI n.e.)"
    assert fmt.median_with_ci(4.99, 2.22, 7.77, "se") == "4.99 (2.22–7.77)"
    assert fmt.median_with_ci(NAN, NAN, NAN, "se") == "not reached"


def test_method_notes():
    assert fmt.method_note("Mann-Whitney U", "exact") == "exact p"
    assert fmt.method_note("Mann-Whitney U", "asymptotic (exact not computed for n = 120)") == (
        "asymptotic p, no continuity correction (exact not computed for n = 120)"
    )


def test_table_footnotes_name_each_method_and_a_mixed_test_in_its_cell():
    base = dict(
        analysis="t",
        table_title="T",
        grouped_by="bridging_group",
        level=None,
        kind="median_range",
        n=3,
        median=1.0,
        minimum=0.0,
        maximum=2.0,
        test="Mann-Whitney U",
        p_value=0.04,
        test_reason=None,
    )
    rows = pd.DataFrame(
        [
            base | dict(row_number=1, label="a", group="inotuzumab", group_order=0, test_method="exact"),
            base | dict(row_number=2, label="b", group="inotuzumab", group_order=0, test_method="asymptotic_corrected"),
        ]
    )
    table = display_table(rows, load_plan(), {"inotuzumab": 3})
    assert table.notes == ["MW: Mann-Whitney U, exact p", "MW: Mann-Whitney U, asymptotic p with continuity correction"]
    assert [r.test for r in table.rows] == ["MW (exact)", "MW (asymptotic_corrected)"]

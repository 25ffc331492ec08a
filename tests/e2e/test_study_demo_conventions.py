"""The demo's medians under the SPSS convention, against a Kaplan-Meier in exact rational
arithmetic (where 1/2 is 1/2), and the conventions named in analytics and in the report."""

import re
from fractions import Fraction

import duckdb
import pytest

Z = 1.959963984540054


@pytest.fixture(scope="module")
def warehouse(demo_warehouse):
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    yield con
    con.close()


def _exact_median(times, events) -> float | None:
    """First time the product-limit S, in fractions, is <= 1/2 (SPSS's definition)."""
    s = Fraction(1)
    for t in sorted(set(times)):
        at_risk = sum(1 for x in times if x >= t)
        died = sum(1 for x, e in zip(times, events, strict=True) if x == t and e)
        s *= Fraction(at_risk - died, at_risk)
        if died and s <= Fraction(1, 2):
            return t
    return None


def _endpoint(con, paramcd, column, value, reverse=False):
    rows = con.execute(
        f"SELECT t.aval, t.is_event FROM marts.time_to_event t JOIN marts.patients p USING (patient_key) "
        f"WHERE t.paramcd = ? AND p.{column} = ?",
        [paramcd, value],
    ).fetchall()
    return [r[0] for r in rows], [(not r[1]) if reverse else r[1] for r in rows]


@pytest.mark.parametrize(
    "analysis, endpoint, column, group",
    [
        # the cases: S lands on 0.5000000000000001 and an exact comparison took the next time
        ("by_post_bt_tumor_burden", "EFS", "post_bt_tumor_burden", "high"),
        ("by_post_bt_tumor_burden", "OS", "post_bt_tumor_burden", "high"),
        ("by_tumor_burden_transition", "EFS", "tumor_burden_transition", "high→high"),
        ("by_bridging_group", "EFS", "bridging_group", "chemotherapy"),
    ],
)
def test_km_medians_equal_exact_arithmetic(warehouse, analysis, endpoint, column, group):
    median, convention = warehouse.execute(
        "SELECT median_months, median_convention FROM analytics.survival_summaries "
        'WHERE analysis = ? AND endpoint = ? AND "group" = ?',
        [analysis, endpoint, group],
    ).fetchall()[0]
    assert convention == "spss" and median == _exact_median(*_endpoint(warehouse, endpoint, column, group))


def test_follow_up_median_exact_and_spss_interval(warehouse):
    row = warehouse.execute(
        "SELECT median_months, se, ci_method, ci_lower, ci_upper, se_ci_lower, band_ci_lower FROM analytics.follow_up "
        "WHERE endpoint = 'OS' AND \"group\" = 'inotuzumab'"
    ).fetchall()[0]
    median, se, method, lower, upper, se_lower, band_lower = row
    assert median == _exact_median(*_endpoint(warehouse, "OS", "bridging_group", "inotuzumab", reverse=True))
    assert method == "se" and (lower, upper) == pytest.approx((median - Z * se, median + Z * se))
    assert se_lower == lower and band_lower is not None


def test_every_p_value_names_its_method(warehouse):
    unnamed = warehouse.execute(
        "SELECT count(*) FROM analytics.group_comparisons WHERE p_value IS NOT NULL AND test_method IS NULL"
    ).fetchall()
    assert unnamed == [(0,)]
    methods = dict(
        warehouse.execute(
            "SELECT test, string_agg(DISTINCT test_method, ',') FROM analytics.group_comparisons "
            "WHERE p_value IS NOT NULL GROUP BY test"
        ).fetchall()
    )
    assert methods["Mann-Whitney U"] == "asymptotic" and methods["Pearson chi-square"] == "asymptotic"
    assert methods["Fisher's exact"] == "exact"


def test_report_names_the_conventions_and_degenerate_estimates(demo_warehouse):
    html = (demo_warehouse.parent / "reports" / "study_report.html").read_text(encoding="utf-8")
    html = re.sub(r"<svg.*?</svg>", "", html, flags=re.S)  # the figures' markup holds "rotate(-0 ..."
    named = [
        "MW: Mann-Whitney U, asymptotic p, no continuity correction",
        "the first time the curve is at or below 0.5 (SPSS)",
        "median ± 1.96 SE",
        "lower limit truncated at 0",
        "100 % (no events)",
    ]
    for text in named:
        assert text in html, text
    assert "100.0 % (100.0–100.0)" not in html and "(-" not in html

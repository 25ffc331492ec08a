"""The plan's analyses on tiny cohorts whose results are worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from cartwh.study.config import Conventions, SurvivalAnalysis, TableRow, TableSpec, load_plan
from cartwh.study.group_comparisons import comparison_rows
from cartwh.study.survival_analyses import run_survival

PATIENTS = pd.DataFrame(
    {
        "patient_key": ["a1", "a2", "a3", "b1", "b2"],
        "arm": ["A", "A", "A", "B", "B"],
        "flag": [True, True, False, False, None],
        "grade": ["1", "2", "1", "9", "1"],
        "value": [1.0, 2.0, 3.0, 10.0, 20.0],
    }
)
TTE = pd.DataFrame(
    {
        "patient_key": ["a1", "a2", "a3", "b1", "b2"],
        "paramcd": ["EFS"] * 5,
        "aval": [1.0, 2.0, 3.0, 4.0, 5.0],
        "is_event": [True, True, True, True, True],
    }
)


def _table(*rows: TableRow, conventions: Conventions = Conventions()) -> pd.DataFrame:
    spec = TableSpec("t", "T", by="arm", group_order=("A", "B"), rows=rows)
    return comparison_rows(spec, PATIENTS, TTE, conventions).set_index("group")


def test_count_row_uses_known_values_as_denominator_and_fisher():
    out = _table(TableRow("Flag", "count", column="flag"))
    assert out.loc["A", ["count", "n", "n_missing"]].tolist() == [2, 3, 0]
    assert out.loc["B", ["count", "n", "n_missing"]].tolist() == [0, 1, 1]
    assert out.loc["Total", "percent"] == pytest.approx(50.0)
    # 2x2 [[2, 1], [0, 1]], margins 3/1 and 2/2: both possible tables have probability 1/2,
    # so the two-sided Fisher p is 1.
    assert out.loc["A", "test"] == "Fisher's exact" and out.loc["A", "p_value"] == pytest.approx(1.0)


def test_levels_row_keeps_planned_order_and_adds_unplanned_levels():
    out = _table(TableRow("Grade", "levels", column="grade", levels=("2", "1")))
    assert list(dict.fromkeys(out["level"])) == ["2", "1", "9"]
    total = out[out.index == "Total"].set_index("level")["count"].to_dict()
    assert total == {"2": 1, "1": 3, "9": 1}


def test_median_row_with_exact_mann_whitney():
    out = _table(TableRow("Value", "median_range", column="value"), conventions=Conventions(mann_whitney="exact"))
    assert out.loc["A", ["median", "minimum", "maximum"]].tolist() == [2.0, 1.0, 3.0]
    assert out.loc["B", "median"] == 15.0 and out.loc["Total", "median"] == 3.0
    # Every A value is below every B value: U = 0, exact two-sided p = 2 / C(5, 2) = 0.2.
    assert out.loc["A", "test"] == "Mann-Whitney U" and out.loc["A", "p_value"] == pytest.approx(0.2)


def test_descriptive_row_has_no_test():
    out = _table(TableRow("Value", "median_ci", column="value", test="none"))
    assert out["test"].isna().all() and out["test_reason"].str.contains("descriptive").all()


def test_km_median_row():
    out = _table(TableRow("EFS", "km_median", endpoint="EFS"))
    # A: events at 1, 2, 3 -> S = 2/3, 1/3: median 2. B: events at 4, 5 -> S(4) = 1/2: median 4.
    assert out.loc["A", "median"] == 2.0 and out.loc["B", "median"] == 4.0
    assert out.loc["A", "test"] == "log-rank"


def test_heading_and_where():
    out = comparison_rows(
        TableSpec(
            "t",
            "T",
            "arm",
            ("A", "B"),
            (
                TableRow("Section", "heading"),
                TableRow("Value in flagged", "median_range", column="value", where="flag == True"),
            ),
        ),
        PATIENTS,
        TTE,
    )
    assert out.iloc[0]["kind"] == "heading" and pd.isna(out.iloc[0]["group"])
    values = out[out["row_number"] == 2].set_index("group")
    assert values.loc["A", "n"] == 2 and values.loc["B", "n"] == 0
    assert values.loc["A", "test_reason"] == "a group without values"


def _survival(analysis: SurvivalAnalysis, data: pd.DataFrame):
    rows = {
        name: [] for name in ("km_estimates", "landmark_survival", "survival_summaries", "survival_tests", "cutoffs")
    }
    run_survival(data, analysis, load_plan(), rows)
    return rows


def test_missing_group_is_counted_not_merged():
    data = TTE.merge(PATIENTS, on="patient_key")
    rows = _survival(SurvivalAnalysis("s", "S", ("EFS",), by="flag"), data)
    test = rows["survival_tests"][0]
    assert test["n"] == 4 and test["n_missing_group"] == 1 and test["groups"] == "False | True"


def test_cutoff_groups_and_landmark_origin():
    data = TTE.merge(PATIENTS, on="patient_key")
    # Landmark at month 1.5: a1 (event at 1) is out; times shift by 1.5.
    rows = _survival(SurvivalAnalysis("s", "S", ("EFS",), by="value", cutoff="median", from_month=1.5), data)
    cut = rows["cutoffs"][0]
    assert cut["method"] == "median" and cut["cutoff"] == pytest.approx(6.5) and cut["n"] == 4  # median of 2, 3, 10, 20
    km = pd.concat(rows["km_estimates"])
    assert set(km["group"]) == {"< 6.5", "≥ 6.5"} and (km["time_origin_months"] == 1.5).all()
    low = km[(km["group"] == "< 6.5") & (km["events"] > 0)]["time"].tolist()
    assert low == pytest.approx([0.5, 1.5])
    landmark = rows["landmark_survival"][0]
    assert landmark["landmark_months"] == 12.0 and landmark["estimate"] == 0.0
    assert math.isnan(landmark["ci_lower"]) and np.isfinite(rows["survival_tests"][0]["p_value"])


def test_cox_model_with_an_absent_reference_level_is_reported_not_raised():
    from dataclasses import replace

    from cartwh.study.compute import _cox_rows
    from cartwh.study.config import CoxAnalysis

    plan = replace(load_plan(), cox=(CoxAnalysis("c", "EFS", ("arm",), {"arm": "Z"}),))
    (model,) = _cox_rows(TTE.merge(PATIENTS, on="patient_key"), plan)
    assert model["analysis"].tolist() == ["c"] and model["reason"].iloc[0].startswith("not fitted:")


def test_km_median_row_names_its_convention():
    # B: events at 4 and 5, S = 1/2 on [4, 5): SPSS 4 (above), R the midpoint 4.5
    out = _table(TableRow("EFS", "km_median", endpoint="EFS"), conventions=Conventions(km_quantile="r"))
    assert out.loc["B", "median"] == 4.5 and out.loc["B", "median_convention"] == "r"
    assert out.loc["A", "test_method"] == "asymptotic"


# REL rows of five patients: a1 relapses at 1, a2 has a consolidative HSCT at 2, a3 relapses at 3,
# b1 dies in remission at 4, b2 is censored at 5.
REL = pd.DataFrame(
    {
        "patient_key": ["a1", "a2", "a3", "b1", "b2"],
        "paramcd": ["REL"] * 5,
        "aval": [1.0, 2.0, 3.0, 4.0, 5.0],
        "is_event": [True, False, True, False, False],
        "cause": ["relapse", "consolidative_hsct", "relapse", "death", None],
    }
)


def _competing(consolidative_hsct: str) -> dict:
    from dataclasses import replace

    from cartwh.study.competing_risk_analyses import run_competing_risks
    from cartwh.study.config import CompetingRiskAnalysis

    plan = load_plan()
    plan = replace(plan, conventions=replace(plan.conventions, consolidative_hsct=consolidative_hsct))
    analysis = CompetingRiskAnalysis(
        "r", "R", "REL", {"relapse": "Relapse", "consolidative_hsct": "HSCT"}, by="arm", group_order=("A", "B")
    )
    rows = {name: [] for name in ("cumulative_incidence", "competing_risk_landmarks", "competing_risk_tests")}
    run_competing_risks(REL.merge(PATIENTS, on="patient_key"), analysis, plan, rows)
    return rows


def test_consolidative_hsct_competes_or_censors_as_the_plan_says():
    # HSCT competing, all patients: relapse at 1 (1/5), HSCT at 2 (S 4/5 -> 3/5), relapse at 3:
    #   F_relapse(3) = 1/5 + (3/5)(1/3) = 2/5. HSCT censored at 2 instead: F = 1/5 + (4/5)(1/3) = 7/15.
    competing, censored = _competing("competing"), _competing("censored")
    at = {
        name: pd.concat(rows["cumulative_incidence"]).query("time == 3").set_index(["group", "cause"])["estimate"]
        for name, rows in (("competing", competing), ("censored", censored))
    }
    assert at["competing"][("All patients", "relapse")] == pytest.approx(2 / 5)
    assert at["censored"][("All patients", "relapse")] == pytest.approx(7 / 15)
    assert at["competing"][("A", "consolidative_hsct")] == pytest.approx(1 / 3)
    assert ("All patients", "consolidative_hsct") not in at["censored"].index
    landmark = censored["competing_risk_landmarks"][0]  # month 12, beyond the last follow-up at 5
    assert math.isnan(landmark["estimate"]) and "beyond the last follow-up" in landmark["reason"]
    (reason,) = [t["reason"] for t in censored["competing_risk_tests"] if t["cause"] == "consolidative_hsct"]
    assert "conventions.consolidative_hsct" in reason
    assert {r["consolidative_hsct"] for r in censored["competing_risk_landmarks"]} == {"censored"}


def test_gray_test_per_cause_between_the_groups():
    tests = {t["cause"]: t for t in _competing("competing")["competing_risk_tests"]}
    assert tests["relapse"]["groups"] == "A | B" and tests["relapse"]["n"] == 5 and tests["relapse"]["events"] == 2
    assert tests["relapse"]["test"] == "Gray's test" and 0 < tests["relapse"]["p_value"] < 1


def test_a_blocked_grouping_column_blocks_its_competing_risk_analyses_only():
    from dataclasses import replace

    from cartwh.study.analytics_tables import ANALYTICS_TABLES
    from cartwh.study.blocking import Blocks, apply_blocks
    from cartwh.study.config import CompetingRiskAnalysis, CompetingRiskRegression

    plan = replace(
        load_plan(),
        survival=(),
        follow_up=(),
        cox=(),
        tables=(),
        competing_risks=(CompetingRiskAnalysis("by_arm", "R", "REL", {"relapse": "Relapse"}, by="arm"),),
        competing_risk_regression=(CompetingRiskRegression("fg_arm", "REL", "relapse", ("arm",)),),
    )
    frames = {name: pd.DataFrame({"analysis": []}) for name in ANALYTICS_TABLES}
    rows = _competing("competing")
    frames["cumulative_incidence"] = pd.concat(rows["cumulative_incidence"]).assign(analysis="by_arm")
    frames["competing_risk_models"] = pd.DataFrame({"analysis": ["fg_arm"], "term": ["arm=B"], "coef": [0.5]})
    reason = "not estimable: blocked by marts_patients X(arm) (why; observed 0)"
    out = apply_blocks(frames, plan, Blocks({"arm": reason}))
    assert out["cumulative_incidence"].empty
    assert out["competing_risk_tests"]["reason"].tolist() == [reason]
    assert out["competing_risk_models"][["analysis", "reason"]].values.tolist() == [["fg_arm", reason]]
    assert out["competing_risk_models"]["coef"].isna().all()


def test_an_endpoint_without_rows_says_so():
    from cartwh.study.competing_risk_analyses import run_competing_risks
    from cartwh.study.config import CompetingRiskAnalysis

    rows = {name: [] for name in ("cumulative_incidence", "competing_risk_landmarks", "competing_risk_tests")}
    analysis = CompetingRiskAnalysis("b", "B", "BCA", {"b_cell_recovery": "Recovery"}, by="arm")
    run_competing_risks(REL.merge(PATIENTS, on="patient_key"), analysis, load_plan(), rows)
    assert rows["cumulative_incidence"] == [] and rows["competing_risk_landmarks"] == []
    assert [t["reason"] for t in rows["competing_risk_tests"]] == ["not estimable: no patient has a BCA row"]

"""Tests of cartwh.stats.fine_gray against R ``cmprsk::crr`` output published for Scrucca et al.'s
transplant data (tests/fixtures/competing_risks/README.md), and of its edge cases."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cartwh.stats.fine_gray import COLUMNS, censoring_left_limits, fine_gray

FIXTURES = Path(__file__).parent / "fixtures" / "competing_risks"
# crr(ftime, Status, cov, failcode = 1, cencode = 0), the covariates the integer codes of their
# levels (Sex F 1 M 2; D ALL 1 AML 2; Phase CR1 1 .. Relapse 4; Source BM+PB 1 PB 2) and Age.
PUBLISHED = {
    "Sex": (0.0494, 0.2867, 0.599, 1.84),
    "D": (-0.4860, 0.3040, 0.339, 1.12),
    "Phase": (0.4144, 0.1194, 1.198, 1.91),
    "Age": (-0.0174, 0.0118, 0.960, 1.01),
    "Source": (0.9526, 0.5469, 0.888, 7.57),
}


def scrucca() -> pd.DataFrame:
    data = pd.read_csv(FIXTURES / "scrucca_bmtcrr.csv")
    codes = {c: {level: i + 1 for i, level in enumerate(sorted(data[c].unique()))} for c in ("Sex", "D", "Source")}
    codes["Phase"] = {"CR1": 1, "CR2": 2, "CR3": 3, "Relapse": 4}
    return data.assign(
        cause=data["Status"].map({0: None, 1: "relapse", 2: "transplant-related death"}),
        Age=data["Age"].astype(float),
        **{c: data[c].map(m).astype(float) for c, m in codes.items()},
    )


def test_scrucca_matches_crr():
    out = fine_gray(scrucca(), "ftime", "cause", "relapse", list(PUBLISHED))
    assert list(out.columns) == COLUMNS and (out["method"] == "fine_gray").all()
    for term, (coef, se, lower, upper) in PUBLISHED.items():
        row = out.set_index("term").loc[term]
        assert row["coef"] == pytest.approx(coef, abs=5e-5), term
        assert row["se"] == pytest.approx(se, abs=5e-5), term
        assert row["ci_lower"] == pytest.approx(lower, rel=5e-3), term
        assert row["ci_upper"] == pytest.approx(upper, rel=5e-3), term
    row = out.iloc[0]
    assert row["likelihood_ratio_statistic"] == pytest.approx(23.6, abs=0.05) and row["likelihood_ratio_df"] == 5
    assert out.set_index("term").loc["Phase", "p_value"] == pytest.approx(0.00052, abs=5e-6)
    assert (row["n"], row["events"], row["competing_events"], row["reason"]) == (177, 56, 75, None)


def test_without_competing_events_fine_gray_is_the_breslow_cox_model():
    # No competing event: the subdistribution is the distribution, the weights vanish from the
    # score, and the estimate is Cox's with Breslow ties. Two groups by hand, no ties:
    #   A fails at 1 and 3, B at 2 and 4 (all events): the Breslow = Efron = exact estimate solves
    #   4r^2 + r - 1 = 0 (tests/test_stats_cox.py::test_hand_computed_two_groups).
    data = pd.DataFrame({"t": [1, 3, 2, 4], "cause": ["x"] * 4, "g": ["A", "A", "B", "B"]})
    row = fine_gray(data, "t", "cause", "x", ["g"]).iloc[0]
    assert row["coef"] == pytest.approx(np.log((np.sqrt(17) - 1) / 8), abs=1e-9)


def test_censoring_weights_are_the_censoring_kaplan_meier_just_before():
    # censorings at 2 and 4 among 5 subjects: G(2-) = 1, G(2) = 1 - 1/4 (4 at risk at 2),
    # G(4-) = 3/4, G(4) = 3/4 (1 - 1/2)
    times = np.array([1.0, 2, 3, 4, 5])
    censored = np.array([False, True, False, True, False])
    np.testing.assert_allclose(censoring_left_limits(times, censored), [1, 1, 0.75, 0.75, 0.375])


def test_edges():
    data = pd.DataFrame({"t": [1, 2, 3, 4], "cause": [None, "death", None, "death"], "g": ["A", "B", "A", "B"]})
    assert fine_gray(data, "t", "cause", "relapse", ["g"])["reason"].iloc[0].startswith("no relapse events")
    data = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "cause": ["r", "r", None, "d", None, None], "g": list("AAABBB")})
    assert "monotone likelihood" in fine_gray(data, "t", "cause", "r", ["g"])["reason"].iloc[0]
    with pytest.raises(ValueError, match="level"):
        fine_gray(data, "t", "cause", "r", ["g"], level=1.5)

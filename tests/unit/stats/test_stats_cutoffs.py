"""Tests of cartwh.stats.cutoffs against independently known values.

AUC: scipy's Mann-Whitney U / (n1 n0) and hand counts over all pairs. DeLong CI and
Youden cut-offs: small examples worked out by hand in the comments. Hanley & McNeil (1982),
Table I (CT ratings 1-5 of 58 normal and 51 abnormal patients): published area 0.893.
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from cartwh.stats.cutoffs import choose_cutoff, median_cutoff, roc_auc, split_at, youden_cutoff

Z = 1.959963984540054

# The worked example: positives [3, 4, 5], negatives [1, 2, 4].
VALUES = [3, 4, 5, 1, 2, 4]
OUTCOME = [1, 1, 1, 0, 0, 0]


# ---------------------------------------------------------------- AUC
def test_auc_hand_count():
    # pairs (positive vs negative): score 1 if higher, 1/2 if tied, 0 if lower
    #   3 vs 1, 2, 4 -> 1, 1, 0
    #   4 vs 1, 2, 4 -> 1, 1, 1/2
    #   5 vs 1, 2, 4 -> 1, 1, 1
    # AUC = 7.5 / 9 = 5/6
    r = roc_auc(VALUES, OUTCOME)
    assert r.auc == pytest.approx(5 / 6, abs=1e-12)
    assert (r.direction, r.n_positive, r.n_negative, r.reason) == ("higher", 3, 3, None)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_equals_mann_whitney_u_with_ties(seed):
    rng = np.random.default_rng(seed)
    pos, neg = rng.integers(0, 8, size=40), rng.integers(0, 8, size=35)  # many ties
    u = mannwhitneyu(pos, neg).statistic  # U of the positives: wins + ties / 2
    expected = u / (40 * 35)
    r = roc_auc(np.r_[pos, neg], np.r_[np.ones(40), np.zeros(35)])
    if expected >= 0.5:
        assert (r.auc, r.direction) == (pytest.approx(expected, abs=1e-12), "higher")
    else:
        assert (r.auc, r.direction) == (pytest.approx(1 - expected, abs=1e-12), "lower")


def test_delong_ci_hand_computed():
    # Structural components (psi as in test_auc_hand_count):
    #   V10 (per positive, mean over negatives): 3 -> 2/3, 4 -> 5/6, 5 -> 1
    #   V01 (per negative, mean over positives): 1 -> 1,   2 -> 1,   4 -> (0 + 1/2 + 1)/3 = 1/2
    #   S10 = var(V10, ddof=1) = ((1/6)^2 + 0 + (1/6)^2) / 2              = 1/36
    #   S01 = var(V01, ddof=1) = ((1/6)^2 + (1/6)^2 + (1/3)^2) / 2        = 1/12
    #   Var(AUC) = S10 / 3 + S01 / 3 = 1/108 + 1/36 = 1/27
    # CI = 5/6 -+ z / sqrt(27) = 0.4561 .. 1.2105, the upper limit truncated to 1.
    r = roc_auc(VALUES, OUTCOME)
    assert r.ci_lower == pytest.approx(5 / 6 - Z / math.sqrt(27), abs=1e-9)
    assert r.ci_upper == 1.0
    # level: the 50 % interval uses z = 0.6745, 5/6 -+ 0.1298 (both limits inside [0, 1])
    r50 = roc_auc(VALUES, OUTCOME, level=0.50)
    assert r50.ci_lower == pytest.approx(5 / 6 - 0.6744897501960817 / math.sqrt(27), abs=1e-9)
    assert r50.ci_upper == pytest.approx(5 / 6 + 0.6744897501960817 / math.sqrt(27), abs=1e-9)


def test_direction_reversal():
    # Mirror image of the worked example: low values go with the outcome.
    r = roc_auc([-v for v in VALUES], OUTCOME)
    assert (r.direction, r.auc) == ("lower", pytest.approx(5 / 6, abs=1e-12))
    assert r.ci_lower == pytest.approx(5 / 6 - Z / math.sqrt(27), abs=1e-9)


def test_hanley_mcneil_table_1():
    ratings = np.arange(1, 6)
    normal, abnormal = np.repeat(ratings, [33, 6, 6, 11, 2]), np.repeat(ratings, [3, 2, 2, 11, 33])
    r = roc_auc(np.r_[abnormal, normal], np.r_[np.ones(51), np.zeros(58)])
    assert round(r.auc, 3) == 0.893 and r.direction == "higher"


def test_auc_not_estimable():
    assert roc_auc([1, 2, 3], [0, 0, 0]).reason == "no outcome-positive observations"
    assert math.isnan(roc_auc([1, 2, 3], [1, 1, 1]).auc)
    assert roc_auc([], []).reason == "empty input"
    ties = roc_auc([7, 7, 7, 7], [1, 0, 1, 0])
    assert (ties.auc, ties.direction) == (0.5, None) and math.isnan(ties.ci_lower)
    assert "all values equal" in ties.reason
    one = roc_auc([1, 2, 3], [1, 0, 0])  # AUC 1, but DeLong needs two of each
    assert one.auc == 1.0 and math.isnan(one.ci_lower) and "at least 2" in one.reason


def test_invalid_input():
    with pytest.raises(ValueError, match="outcome"):
        roc_auc([1, 2], [0, 2])
    with pytest.raises(ValueError, match="outcome"):
        roc_auc([1, 2], ["yes", "no"])
    with pytest.raises(ValueError, match="length"):
        roc_auc([1, 2, 3], [0, 1])


# ---------------------------------------------------------------- Youden
def test_youden_hand_enumerated():
    # distinct values 1 2 3 4 5 -> midpoints; positive if value >= c ("higher")
    #   c    sens (of 3,4,5)  spec (of 1,2,4 below c)  J
    #   1.5  3/3              1/3                      1/3
    #   2.5  3/3              2/3                      2/3   <- maximum
    #   3.5  2/3              2/3                      1/3
    #   4.5  1/3              3/3                      1/3
    c = youden_cutoff(VALUES, OUTCOME)
    assert (c.cutoff, c.direction, c.reason) == (2.5, "higher", None)
    assert (c.sensitivity, c.specificity, c.youden_j) == pytest.approx((1, 2 / 3, 2 / 3), abs=1e-12)


def test_youden_direction_lower():
    # positives [1, 2, 4], negatives [3, 4, 5]; positive if value < c ("lower")
    #   c    sens (of 1,2,4 below c)  spec (of 3,4,5 at/above c)  J
    #   1.5  1/3                      3/3                         1/3
    #   2.5  2/3                      3/3                         2/3   <- maximum
    #   3.5  2/3                      2/3                         1/3
    #   4.5  3/3                      1/3                         1/3
    c = youden_cutoff([1, 2, 4, 3, 4, 5], OUTCOME)
    assert (c.cutoff, c.direction) == (2.5, "lower")
    assert (c.sensitivity, c.specificity, c.youden_j) == pytest.approx((2 / 3, 1, 2 / 3), abs=1e-12)


def test_youden_ties_take_the_lowest_cutoff():
    # positives [2, 4], negatives [1, 3]; AUC 3/4, "higher"
    #   c    sens  spec  J
    #   1.5  1     1/2   1/2   <- tied maximum, lowest cut-off
    #   2.5  1/2   1/2   0
    #   3.5  1/2   1     1/2   <- tied maximum
    c = youden_cutoff([2, 4, 1, 3], [1, 1, 0, 0])
    assert (c.cutoff, c.sensitivity, c.specificity, c.youden_j) == (1.5, 1.0, 0.5, 0.5)


def test_youden_not_estimable():
    assert math.isnan(youden_cutoff([5, 5, 5], [1, 0, 1]).cutoff)
    assert youden_cutoff([1, 2], [0, 0]).reason == "no outcome-positive observations"


# ---------------------------------------------------------------- choice and split
def test_choose_cutoff_accepts_roc_when_auc_above_threshold():
    ch = choose_cutoff(VALUES, OUTCOME)
    assert (ch.method, ch.cutoff, ch.accepted, ch.direction) == ("roc_youden", 2.5, True, "higher")
    assert (ch.n, ch.events) == (6, 3)
    assert ch.auc == pytest.approx(5 / 6) and ch.auc_ci_lower == pytest.approx(5 / 6 - Z / math.sqrt(27), abs=1e-9)
    assert ch.reason is None


def test_choose_cutoff_falls_back_to_median():
    # positives [1, 3, 5], negatives [2, 4, 6]: 3 of 9 pairs won -> AUC 1/3 -> "lower", 2/3.
    # Median of 1..6 = 3.5; "lower" split (positive if < 3.5): sens 2/3 (1, 3), spec 2/3 (4, 6).
    ch = choose_cutoff([1, 3, 5, 2, 4, 6], [1, 1, 1, 0, 0, 0])
    assert (ch.method, ch.cutoff, ch.accepted, ch.direction) == ("median", 3.5, False, "lower")
    assert ch.auc == pytest.approx(2 / 3)
    assert (ch.sensitivity, ch.specificity) == pytest.approx((2 / 3, 2 / 3))
    assert ch.reason == "ROC AUC 0.67 ≤ 0.70: median used"


def test_choose_cutoff_auc_exactly_at_threshold_is_not_accepted():
    # positives [3.5, 4.5], negatives [1..5]: 3 + 4 = 7 of 10 pairs -> AUC 0.70, not > 0.70
    values, outcome = [3.5, 4.5, 1, 2, 3, 4, 5], [1, 1, 0, 0, 0, 0, 0]
    ch = choose_cutoff(values, outcome)
    assert ch.auc == pytest.approx(0.7) and (ch.method, ch.cutoff, ch.accepted) == ("median", 3.5, False)
    assert choose_cutoff(values, outcome, min_auc=0.69).method == "roc_youden"


def test_choose_cutoff_not_estimable():
    no_events = choose_cutoff([1, 2, 3], [0, 0, 0])
    assert (no_events.method, no_events.cutoff, no_events.accepted, no_events.events) == ("median", 2.0, False, 0)
    assert math.isnan(no_events.auc) and no_events.reason == "no outcome-positive observations"
    ties = choose_cutoff([4, 4, 4], [1, 0, 1])
    assert (ties.method, ties.cutoff, ties.accepted) == ("median", 4.0, False) and "all values equal" in ties.reason
    empty = choose_cutoff([np.nan], [1])
    assert (empty.method, empty.n, empty.accepted) == (None, 0, False) and math.isnan(empty.cutoff)


def test_missing_values_are_dropped_pairwise():
    values = pd.Series(VALUES + [np.nan, 9.0, None])
    outcome = pd.Series(OUTCOME + [1, np.nan, 0])
    ch = choose_cutoff(values, outcome)
    assert (ch.n, ch.events, ch.cutoff) == (6, 3, 2.5)
    assert ch.auc == pytest.approx(5 / 6)
    assert median_cutoff([3, np.nan, 1, 2]) == 2.0 and math.isnan(median_cutoff([np.nan]))


def test_split_at():
    labels = split_at(pd.Series([1.0, None, 3.2, 4.0], index=[10, 11, 12, 13]), 3.2)
    assert labels.tolist() == ["< 3.2", None, "≥ 3.2", "≥ 3.2"]
    assert labels.index.tolist() == [10, 11, 12, 13]
    assert split_at([0.5, 2], 1.25).tolist() == ["< 1.25", "≥ 1.25"]
    with pytest.raises(ValueError):
        split_at([1, 2], float("nan"))


# ---------------------------------------------------------------- registry-sized input
@pytest.mark.parametrize("seed", [3, 4])
def test_midrank_delong_and_youden_sweep_equal_the_pairwise_definitions(seed):
    """The O(N log N) forms against the definitions computed pair by pair and cut-off by cut-off
    (rounded values, so ties are many)."""
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=300), 1)
    y = rng.random(300) < 1 / (1 + np.exp(-x))
    pos, neg = x[y], x[~y]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    auc = psi.mean()
    se = math.sqrt(psi.mean(axis=1).var(ddof=1) / len(pos) + psi.mean(axis=0).var(ddof=1) / len(neg))
    r = roc_auc(x, y)
    assert r.direction == "higher"
    assert r.auc == pytest.approx(auc, abs=1e-12)
    assert (r.ci_lower, r.ci_upper) == pytest.approx((auc - Z * se, auc + Z * se), abs=1e-12)
    distinct = np.unique(x)
    cuts = (distinct[:-1] + distinct[1:]) / 2
    j = [(x[y] >= c).mean() + (x[~y] < c).mean() - 1 for c in cuts]
    assert youden_cutoff(x, y).cutoff == cuts[int(np.argmax(j))]
    assert youden_cutoff(x, y).youden_j == pytest.approx(max(j), abs=1e-12)
    flipped = roc_auc(-x, y)
    assert flipped.direction == "lower" and flipped.auc == pytest.approx(auc, abs=1e-12)


def test_registry_sized_auc_needs_no_pair_matrix():
    """100,000 patients: 2.5e9 pairs would need 20 GB as a matrix; midranks need a few MB."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=100_000)
    y = rng.random(100_000) < 0.5
    r = roc_auc(x, y)
    u = mannwhitneyu(x[y], x[~y]).statistic
    assert r.auc == pytest.approx(max(u, y.sum() * (~y).sum() - u) / (y.sum() * (~y).sum()), abs=1e-12)

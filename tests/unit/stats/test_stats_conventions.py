"""The R and SPSS conventions (analyses.yml `conventions:`) against values known independently:
textbook data, R and SPSS outputs, and the definitions written out by hand below.

References: Freireich 6-MP / placebo remission times (Kleinbaum & Klein, "Survival
Analysis"; R MASS::gehan); R's ?wilcox.test example (permeability constants, Hollander &
Wolfe): W = 35, one-sided p = 0.1272; Collett, "Modelling Survival Data in Medical
Research", section 2.4 for the SE of a KM quantile (SE[S(t)] / f(t), f a difference
quotient between the event times 0.05 above and below the level).
"""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from cartwh.stats import survival as sv
from cartwh.stats.comparisons import (
    KRUSKAL_WALLIS,
    MANN_WHITNEY,
    PEARSON,
    compare_counts,
    compare_values,
    mann_whitney,
)
from cartwh.study.config import PlanError, parse_plan

Z = 1.959963984540054
MP_T = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
MP_E = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
PL_T = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]


# ------------------------------------------------------------ KM quantile conventions
def test_survival_exactly_one_half_over_a_flat_stretch():
    # four events at 1..4: S = 3/4, 1/2, 1/4, 0. SPSS: first time S <= 1/2 -> 2. R: S = 1/2 on
    # [2, 3), the midpoint 2.5 (R: median(survfit(Surv(1:4) ~ 1)) = 2.5, the sample median).
    t = [1, 2, 3, 4]
    assert sv.km_median(t, None, "spss").median == 2
    assert sv.km_median(t, None, "r").median == 2.5
    # the same rule for other quantiles: S = 3/4 on [1, 2), S = 1/4 on [3, 4)
    assert (sv.km_quantile(t, None, 0.25, "spss").median, sv.km_quantile(t, None, 0.25, "r").median) == (1, 1.5)
    assert (sv.km_quantile(t, None, 0.75, "spss").median, sv.km_quantile(t, None, 0.75, "r").median) == (3, 3.5)


@pytest.mark.parametrize("last_event, r_median", [(1, 4.5), (0, 4.5)])
def test_one_half_that_floating_point_makes_0_5000000000000001(last_event, r_median):
    # events at 1, 2, 3 of six: S(3) = 5/6 * 4/5 * 3/4 = 1/2 exactly, but the product-limit
    # computed in floating point is 0.5000000000000001, so an exact `S <= 0.5` skips it.
    t, e = [1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 0, last_event]
    s3 = sv.kaplan_meier(t, e).set_index("time").loc[3.0, "survival"]
    assert s3 != 0.5 and s3 == pytest.approx(0.5, abs=1e-15)
    assert sv.km_median(t, e, "spss").median == 3
    # R: the flat at 1/2 runs from 3 to the next drop (the event at 6) or, when the last
    # time is censored, to the last follow-up time (6): midpoint 4.5 either way.
    assert sv.km_median(t, e, "r").median == r_median
    # S never falls to 0.45 or below, so Collett's density (and the SE) is not estimable:
    # the symmetric interval is NaN, not a lower limit of 0
    if not last_event:
        assert math.isnan(sv.km_median(t, e, "spss", "se").se)
        assert all(math.isnan(x) for x in sv.km_median(t, e, "spss", "se").se_ci)


def test_band_limit_is_not_reached_where_survival_is_zero():
    # events at 1, 2, 3: the upper log-log band is (1/3) ** exp(z sqrt(2/3) / log(1/3)) = 0.77
    # at t = 2 and undefined at t = 3 (S = 0; R: NA), so the upper limit is never reached.
    upper_at_2 = (1 / 3) ** math.exp(Z * math.sqrt(1 / 6 + 1 / 2) / math.log(1 / 3))
    assert upper_at_2 == pytest.approx(0.774, abs=1e-3)
    result = sv.km_median([1, 2, 3], [1, 1, 1], "spss", "band")
    assert result.median == 2 and result.ci_lower == 1 and math.isnan(result.ci_upper)


def _collett_se(s_at, risk_table, s_u, s_l, u, lo):
    """SE of a KM quantile: Greenwood SE of S there over (S(u) - S(l)) / (l - u)."""
    se_s = s_at * math.sqrt(sum(d / (n * (n - d)) for n, d in risk_table))
    return se_s / ((s_u - s_l) / (lo - u))


def test_spss_median_se_and_symmetric_ci_freireich():
    # SPSS KM on these data prints (Kleinbaum & Klein's SPSS appendix): placebo median 8,
    # SE 1.669, 95 % CI 4.729-11.271; 6-MP median 23, SE 5.255, 95 % CI 12.700-33.300.
    placebo = sv.km_median(PL_T, None, "spss", "se")
    # by hand: S(8) = 8/21 (no censoring: SE = sqrt(S (1 - S) / 21)); u = 5 (S = 12/21 >= 0.55),
    # l = 8 (S = 8/21 <= 0.45): f = (4/21) / 3
    by_hand = math.sqrt(8 / 21 * 13 / 21 / 21) / ((4 / 21) / 3)
    assert placebo.median == 8 and placebo.se == pytest.approx(by_hand, rel=1e-12)
    assert (round(placebo.se, 3), round(placebo.ci_lower, 3), round(placebo.ci_upper, 3)) == (1.669, 4.729, 11.271)
    mp = sv.km_median(MP_T, MP_E, "spss", "se")
    table = [(21, 3), (17, 1), (15, 1), (12, 1), (11, 1), (7, 1), (6, 1)]
    s = np.cumprod([1 - d / n for n, d in table])  # at 6, 7, 10, 13, 16, 22, 23
    # u = 16 (S = 0.627; S(22) = 0.538 < 0.55), l = 23 (S = 0.448 <= 0.45)
    assert mp.se == pytest.approx(_collett_se(s[6], table, s[4], s[6], 16, 23), rel=1e-12)
    assert (mp.median, round(mp.se, 3), round(mp.ci_lower, 3), round(mp.ci_upper, 3)) == (23, 5.255, 12.700, 33.300)
    # the band interval is kept beside it, and is what ci_method="band" reports
    assert mp.band_ci == sv.km_median(MP_T, MP_E, "spss", "band")[1:3]


def test_symmetric_lower_limit_is_truncated_at_zero():
    # events at 1, 2, 30, 31: median 2; S(2) = 1/2, SE[S] = sqrt(1/4 * 1/4 ... ) = 1/4 (no
    # censoring: sqrt(S (1 - S) / 4)); u = 1 (S = 3/4), l = 30 (S = 1/4): f = (1/2) / 29
    result = sv.km_median([1, 2, 30, 31], None, "spss", "se")
    assert result.se == pytest.approx(0.25 / (0.5 / 29))
    assert result.ci_lower == 0 and result.ci_upper == pytest.approx(2 + Z * 14.5)


def test_km_mean_lower_limit_truncated_at_zero():
    # no censoring: KM mean = sample mean 5.05, SE = population sd / sqrt(n) = 4.95 / sqrt(2)
    m = sv.km_mean([0.1, 10], [1, 1])
    assert m.mean == pytest.approx(5.05) and m.se == pytest.approx(4.95 / math.sqrt(2))
    assert m.ci_lower == 0 and m.ci_upper == pytest.approx(5.05 + Z * 4.95 / math.sqrt(2))


def test_median_follow_up_both_intervals_by_hand():
    # times 1, 2+, 3, 4+, 5: reverse KM events (censorings) at 2 (n = 4) and 4 (n = 2):
    # S = 3/4, 3/8 -> median 4. SE: Greenwood SE[S(4)] = 3/8 sqrt(1/12 + 1/2) over
    # f = (3/4 - 3/8) / (4 - 2); SPSS's interval is median +- 1.96 SE.
    result = sv.median_follow_up([1, 2, 3, 4, 5], [1, 0, 1, 0, 1], "spss", "se")
    se = 3 / 8 * math.sqrt(1 / 12 + 1 / 2) / ((3 / 4 - 3 / 8) / 2)
    assert result.median == 4 and result.se == pytest.approx(se, rel=1e-12)
    assert (result.ci_lower, result.ci_upper) == pytest.approx((4 - Z * se, 4 + Z * se))
    assert result.band_ci[0] == 2 and math.isnan(result.band_ci[1]) and result.ci_method == "se"


def test_unknown_convention_raises():
    with pytest.raises(ValueError):
        sv.km_median([1, 2], None, "sas")


# ------------------------------------------------------------ Mann-Whitney
def test_mann_whitney_exact_r_help_example():
    # R ?wilcox.test: wilcox.test(x, y, alternative = "greater") -> W = 35, p-value = 0.1272
    x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    y = [1.15, 0.88, 0.90, 0.74, 1.21]
    result = mann_whitney(x, y, "exact")
    assert result.statistic == 35 and result.method == "exact"
    assert result.p_value / 2 == pytest.approx(0.1272, abs=5e-5)  # two-sided = 2 x one-sided
    assert mann_whitney(x, y, "r").method == "exact"  # R's own choice: n < 50, no ties


def _normal_p(a, b, correct):
    """The normal approximation written out: U of a, tie-corrected variance, optional 0.5."""
    ranks = stats.rankdata(list(a) + list(b))
    n1, n2 = len(a), len(b)
    n = n1 + n2
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    _, t = np.unique(list(a) + list(b), return_counts=True)
    var = n1 * n2 / 12 * ((n + 1) - (t**3 - t).sum() / (n * (n - 1)))
    return 2 * stats.norm.sf((abs(u - n1 * n2 / 2) - (0.5 if correct else 0)) / math.sqrt(var))


def test_mann_whitney_asymptotic_as_spss_and_corrected_as_r():
    a, b = [1, 2, 2, 3, 5, 7, 8, 9, 10], [2, 4, 6, 6, 11, 12, 13, 14, 15]
    spss = compare_values(a, b)  # the default is SPSS's asymptotic p
    assert spss.test == MANN_WHITNEY and spss.method == "asymptotic"
    assert spss.p_value == pytest.approx(_normal_p(a, b, correct=False), rel=1e-12)
    corrected = mann_whitney(a, b, "asymptotic_corrected")
    assert corrected.p_value == pytest.approx(_normal_p(a, b, correct=True), rel=1e-12)
    assert mann_whitney(a, b, "r").method == "asymptotic_corrected"  # ties: R leaves exact


def test_mann_whitney_exact_with_ties_by_enumeration():
    # every way of choosing which 4 of the 7 pooled values are group a, rank sums of midranks
    a, b = [1, 2, 2, 3], [2, 4, 5]
    ranks = stats.rankdata(a + b)
    observed = ranks[:4].sum()
    sums = [ranks[list(c)].sum() for c in itertools.combinations(range(7), 4)]
    lower = sum(s <= observed + 1e-9 for s in sums) / len(sums)
    upper = sum(s >= observed - 1e-9 for s in sums) / len(sums)
    result = mann_whitney(a, b, "exact")
    assert result.p_value == pytest.approx(min(1, 2 * min(lower, upper)), rel=1e-12)


def test_mann_whitney_exact_too_large_falls_back_and_says_so():
    result = mann_whitney(np.arange(60.0), np.arange(30.0, 90.0), "exact")
    assert result.method.startswith("asymptotic (exact not computed")
    assert result.p_value == pytest.approx(_normal_p(np.arange(60.0), np.arange(30.0, 90.0), False))


def test_kruskal_wallis_with_ties_by_hand():
    # pooled ranks: 1 | 2 2 2 -> 3 | 3 -> 5 | 4 -> 6 | 5 5 -> 7.5 | 6 -> 9
    # rank sums 7, 14, 24 (n = 3 each, N = 9): H = 12/90 (49 + 196 + 576)/3 - 30 = 6.4889;
    # ties t = 3 and 2: correction 1 - (24 + 6) / (9^3 - 9) = 23/24; chi-square on 2 df
    result = compare_values([1, 2, 2], [2, 3, 4], [5, 5, 6])
    h = (12 / 90 * (49 + 196 + 576) / 3 - 30) / (1 - 30 / 720)
    assert result.test == KRUSKAL_WALLIS and result.method == "asymptotic"
    assert result.statistic == pytest.approx(h) and result.p_value == pytest.approx(math.exp(-h / 2))


# ------------------------------------------------------------ chi-square
def test_chi_square_with_and_without_yates():
    # tocilizumab 3/10 vs 9/14: expected 5, 5, 7, 7, |O - E| = 2 everywhere
    plain = compare_counts([[3, 7], [9, 5]])
    assert plain.method == "asymptotic" and plain.statistic == pytest.approx(4 * (2 / 5 + 2 / 7))
    yates = compare_counts([[3, 7], [9, 5]], chi_square="yates")
    assert yates.test == PEARSON and yates.method == "asymptotic_corrected"
    assert yates.statistic == pytest.approx(1.5**2 * (2 / 5 + 2 / 7))
    assert yates.p_value == pytest.approx(stats.chi2.sf(1.5**2 * (2 / 5 + 2 / 7), 1))
    # a 2x3 table has no continuity correction in R or SPSS: the same statistic either way
    wide = compare_counts([[0, 8, 2], [4, 4, 6]], chi_square="yates")
    assert wide.method == "asymptotic" and wide.statistic == pytest.approx(48 / 7)
    assert compare_counts([[2, 8], [0, 14]], chi_square="yates").method == "exact"  # Fisher


# ------------------------------------------------------------ the plan
def test_plan_conventions_are_checked_naming_the_setting():
    from tests.unit.study.test_study_plan import SHIPPED, _with

    assert parse_plan(SHIPPED).conventions.mann_whitney == "asymptotic"
    with pytest.raises(PlanError, match="conventions.km_quantile"):
        parse_plan(_with(lambda d: d["conventions"].update(km_quantile="sas")))
    with pytest.raises(PlanError, match="conventions"):
        parse_plan(_with(lambda d: d["conventions"].update(wilcoxon="exact")))

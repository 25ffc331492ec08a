"""Tests of cartwh.stats.survival against independently known values.

Reference data: Freireich et al. (1963) 6-MP vs placebo remission times (weeks), as
printed in Kleinbaum & Klein, "Survival Analysis", and in R's MASS::gehan. Known
results: medians 8 (placebo) and 23 (6-MP); 6-MP KM S(t) to 3 decimals; log-rank
chi-square 16.79 on 1 df, p = 4.17e-05 (R survdiff: "Chisq= 16.8 p= 4e-05").
Everything else is computed by hand below, never by the code under test.
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from cartwh.stats import survival as sv

Z = 1.959963984540054

# 6-MP: + = censored -> event 0
MP_T = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
MP_E = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
PL_T = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]
PL_E = [1] * 21


# ---------------------------------------------------------------- 6-MP / Gehan
@pytest.mark.parametrize(
    "t, s_known",
    [(6, 0.857), (7, 0.807), (10, 0.753), (13, 0.690), (16, 0.627), (22, 0.538), (23, 0.448)],
)
def test_6mp_km_known_values(t, s_known):
    km = sv.kaplan_meier(MP_T, MP_E, label="6-MP")
    row = km.loc[km["time"] == t].iloc[0]
    assert row["survival"] == pytest.approx(s_known, abs=5e-4)
    assert sv.survival_at(MP_T, MP_E, t).estimate == pytest.approx(s_known, abs=5e-4)


def test_6mp_km_table_structure_and_ties():
    km = sv.kaplan_meier(MP_T, MP_E)
    assert list(km.columns) == sv.KM_COLUMNS
    assert km["time"].iloc[0] == 0 and km["survival"].iloc[0] == 1
    assert km["time"].tolist() == [0.0] + sorted(set(map(float, MP_T)))
    # t=6: 3 events and 1 censoring tied -> censored one counted at risk: n=21
    r6 = km.loc[km["time"] == 6].iloc[0]
    assert (r6["at_risk"], r6["events"], r6["censored"]) == (21, 3, 1)
    # t=7: 21 - 4 = 17 at risk
    assert km.loc[km["time"] == 7, "at_risk"].item() == 17
    assert km["events"].sum() == 9 and km["censored"].sum() == 12


def test_medians_known():
    assert sv.km_median(PL_T, PL_E).median == 8
    assert sv.km_median(MP_T, MP_E).median == 23


def _loglog_ci(risk_table):
    """Hand log-log ("exponential Greenwood") CI from (n_j, d_j) pairs:
    S = prod (1 - d_j/n_j);  V = sum d_j / (n_j (n_j - d_j))  (Greenwood, Var log S);
    CI = S ** exp(+- z sqrt(V) / log S)  -> (lower uses +, since log S < 0)."""
    s = math.prod(1 - d / n for n, d in risk_table)
    v = sum(d / (n * (n - d)) for n, d in risk_table)
    a = Z * math.sqrt(v) / math.log(s)
    return s, s ** math.exp(-a), s ** math.exp(a)


@pytest.mark.parametrize(
    "t, risk_table",
    [
        (6, [(21, 3)]),
        # at-risk counts read from the data: 21-4=17 at 7; 9+ leaves -> 15 at 10;
        # 10+ and 11+ leave -> 12 at 13
        (13, [(21, 3), (17, 1), (15, 1), (12, 1)]),
        (23, [(21, 3), (17, 1), (15, 1), (12, 1), (11, 1), (7, 1), (6, 1)]),
    ],
)
def test_6mp_loglog_ci_by_hand(t, risk_table):
    s, lo, hi = _loglog_ci(risk_table)
    got = sv.survival_at(MP_T, MP_E, t)
    assert got.estimate == pytest.approx(s, rel=1e-12)
    assert got.ci_lower == pytest.approx(lo, rel=1e-9)
    assert got.ci_upper == pytest.approx(hi, rel=1e-9)
    assert got.reason is None


def test_6mp_loglog_ci_t6_numbers():
    # hand arithmetic: S=18/21, V=3/(21*18), lower = S**exp(z*sqrt(V)/|log S|)
    got = sv.survival_at(MP_T, MP_E, 6)
    assert (round(got.ci_lower, 3), round(got.ci_upper, 3)) == (0.620, 0.952)


def test_6mp_logrank_known():
    res = sv.logrank(MP_T + PL_T, MP_E + PL_E, ["6-MP"] * 21 + ["placebo"] * 21)
    assert res["test"] == "log-rank" and res["df"] == 1 and res["reason"] is None
    assert res["statistic"] == pytest.approx(16.79, abs=0.005)
    assert res["p_value"] == pytest.approx(4.17e-05, rel=5e-3)


def test_6mp_km_mean_by_hand():
    # area under the 6-MP step curve up to the last time 35 (censored):
    # S=1 on [0,6), then 18/21 on [6,7), ...*16/17 on [7,10), *14/15 on [10,13),
    # *11/12 on [13,16), *10/11 on [16,22), *6/7 on [22,23), *5/6 on [23,35)
    s = [1.0]
    for n, d in [(21, 3), (17, 1), (15, 1), (12, 1), (11, 1), (7, 1), (6, 1)]:
        s.append(s[-1] * (1 - d / n))
    widths = [6, 1, 3, 3, 3, 6, 1, 12]
    area = sum(si * w for si, w in zip(s, widths, strict=True))
    m = sv.km_mean(MP_T, MP_E)
    assert m.mean == pytest.approx(area, rel=1e-12)
    assert m.upper_limit == 35
    assert m.mean == pytest.approx(23.287, abs=1e-3)


# ---------------------------------------------------------------- tiny cohorts
def test_tiny_all_events():
    km = sv.kaplan_meier([1, 2, 3], [1, 1, 1])
    assert km["survival"].tolist() == pytest.approx([1, 2 / 3, 1 / 3, 0])
    assert km["at_risk"].tolist() == [3, 3, 2, 1]
    assert np.isnan(km["ci_lower"].iloc[-1]) and np.isnan(km["ci_upper"].iloc[-1])
    m = sv.km_mean([1, 2, 3], [1, 1, 1])
    assert m.mean == pytest.approx(2.0)
    # no censoring: KM mean = sample mean, Var = sum (x - xbar)^2 / n^2 = 2/9
    # formula: A(1)=1 -> 1*1/(3*2); A(2)=1/3 -> (1/9)*1/(2*1)
    assert m.se == pytest.approx(math.sqrt(1 / 6 + 1 / 18))
    assert m.se == pytest.approx(np.std([1, 2, 3]) / math.sqrt(3))
    assert (m.ci_lower, m.ci_upper) == pytest.approx((2 - Z * m.se, 2 + Z * m.se))
    assert sv.km_median([1, 2, 3], [1, 1, 1]).median == 2


def test_tiny_censored_middle():
    km = sv.kaplan_meier([1, 2, 3], [1, 0, 1])
    assert km["survival"].tolist() == pytest.approx([1, 2 / 3, 2 / 3, 0])
    m = sv.km_mean([1, 2, 3], [1, 0, 1])
    assert m.mean == pytest.approx(1 + 2 * 2 / 3)  # 7/3
    # A(1) = 2 * 2/3 = 4/3 -> (16/9) / (3*2); t=3 has n=d=1 and A=0
    assert m.se == pytest.approx(math.sqrt(16 / 9 / 6))


def test_tiny_last_censored_mean_restricted():
    m = sv.km_mean([1, 2, 3], [1, 1, 0])
    assert m.mean == pytest.approx(1 + 2 / 3 + 1 / 3) and m.upper_limit == 3
    assert m.se == pytest.approx(math.sqrt(1 / 6 + 1 / 18))


def test_ties_event_and_censoring_same_time():
    # at t=2 one event and one censoring: censored counted at risk -> S = 1 - 1/3
    km = sv.kaplan_meier([2, 2, 3], [1, 0, 1])
    r2 = km.loc[km["time"] == 2].iloc[0]
    assert (r2["at_risk"], r2["events"], r2["censored"]) == (3, 1, 1)
    assert r2["survival"] == pytest.approx(2 / 3)
    assert km.loc[km["time"] == 3, "at_risk"].item() == 1


def test_survival_at_step_and_beyond_follow_up():
    assert sv.survival_at([1, 2, 3], [1, 1, 0], 2.5).estimate == pytest.approx(1 / 3)
    assert sv.survival_at([1, 2, 3], [1, 1, 0], 0.5).estimate == 1.0
    assert sv.survival_at([1, 2, 3], [1, 1, 0], 3).estimate == pytest.approx(1 / 3)
    beyond = sv.survival_at([1, 2, 3], [1, 1, 0], 4)
    assert np.isnan(beyond.estimate) and "beyond" in beyond.reason
    after_zero = sv.survival_at([1, 2, 3], [1, 1, 1], 10)
    assert after_zero.estimate == 0 and after_zero.reason is None


def test_rmst_by_hand():
    r = sv.rmst([1, 2, 3], [1, 1, 1], 2.5)
    assert r.rmst == pytest.approx(1 + 2 / 3 + 0.5 / 3)
    # A(1) = 2/3 + 0.5/3 = 5/6 ; A(2) = 0.5/3 = 1/6
    assert r.se == pytest.approx(math.sqrt((5 / 6) ** 2 / (3 * 2) + (1 / 6) ** 2 / (2 * 1)))
    full = sv.rmst([1, 2, 3], [1, 1, 1], 3)
    assert full.rmst == pytest.approx(2.0) and full.se == pytest.approx(math.sqrt(2 / 9))
    bad = sv.rmst([1, 2, 3], [1, 1, 0], 5)
    assert np.isnan(bad.rmst) and bad.reason


def _hand_logrank(t, e, g):
    """k-group log-rank by hand: at each distinct event time with n at risk, d events,
    n_k at risk and d_k events in group k:
      E_k += d n_k / n,   V_kl += d (n - d)/(n - 1) * n_k/n * (delta_kl - n_l/n);
    statistic = (O-E)[:k-1]' V[:k-1,:k-1]^-1 (O-E)[:k-1] ~ chi2(k-1)."""
    t, e, g = np.asarray(t, float), np.asarray(e), np.asarray(g)
    labs = sorted(set(g))
    k = len(labs)
    O, E, V = np.zeros(k), np.zeros(k), np.zeros((k, k))
    for s in np.unique(t[e == 1]):
        n = (t >= s).sum()
        d = ((t == s) & (e == 1)).sum()
        nk = np.array([((t >= s) & (g == lab)).sum() for lab in labs])
        dk = np.array([((t == s) & (e == 1) & (g == lab)).sum() for lab in labs])
        O += dk
        E += d * nk / n
        if n > 1:
            f = nk / n
            V += d * (n - d) / (n - 1) * (np.diag(f) - np.outer(f, f))
    u = (O - E)[:-1]
    return float(u @ np.linalg.solve(V[:-1, :-1], u)), k - 1


def test_three_group_logrank_by_hand():
    t = [1, 3, 5, 8, 2, 4, 6, 9, 1, 2, 7, 10]
    e = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0]
    g = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    stat, df = _hand_logrank(t, e, g)
    res = sv.logrank(t, e, g)
    assert res["test"] == "k-group log-rank" and res["df"] == df == 2
    assert res["statistic"] == pytest.approx(stat, rel=1e-9)
    assert res["p_value"] == pytest.approx(chi2.sf(stat, df), rel=1e-9)


def test_two_group_logrank_by_hand_and_6mp():
    stat, _ = _hand_logrank(MP_T + PL_T, MP_E + PL_E, ["m"] * 21 + ["p"] * 21)
    assert stat == pytest.approx(16.79, abs=0.005)  # hand formula reproduces the known value
    t, e, g = [1, 2, 3, 4, 5, 6], [1, 1, 0, 1, 1, 1], list("ababab")
    stat, _ = _hand_logrank(t, e, g)
    assert sv.logrank(t, e, g)["statistic"] == pytest.approx(stat, rel=1e-9)


def test_reverse_km_median_follow_up_by_hand():
    # times 1,2+,3,4+,5; reverse KM: "events" are the censorings at 2 and 4
    # n(2)=4 -> 3/4 ; n(4)=2 -> 3/4*1/2 = 3/8 <= 0.5  => median follow-up 4
    res = sv.median_follow_up([1, 2, 3, 4, 5], [1, 0, 1, 0, 1])
    assert res.median == 4 and res.reason is None
    # log-log band by hand at t=2 and t=4 from (n,d) = (4,1) and (2,1)
    s2, lo2, hi2 = _loglog_ci([(4, 1)])
    s4, lo4, hi4 = _loglog_ci([(4, 1), (2, 1)])
    # CI lower = first time the LOWER band is <= 0.5; CI upper = first time the
    # UPPER band is <= 0.5 (NaN if never)
    assert lo2 <= 0.5  # hand value ~0.128: lower band already below 0.5 at t=2
    assert hi2 > 0.5 and hi4 > 0.5  # upper band never reaches 0.5
    assert res.ci_lower == 2
    assert np.isnan(res.ci_upper)


# ---------------------------------------------------------------- edge cases
def test_empty_input():
    km = sv.kaplan_meier([], [])
    assert km.empty and km.attrs["reason"] == "empty input"
    for r in (
        sv.survival_at([], [], 1),
        sv.km_median([], []),
        sv.median_follow_up([], []),
        sv.km_mean([], []),
        sv.rmst([], [], 1),
    ):
        assert np.isnan(r[0]) and r.reason == "empty input"
    res = sv.logrank([], [], [])
    assert np.isnan(res["p_value"]) and res["reason"]


def test_all_censored():
    t, e = [3, 5, 8], [0, 0, 0]
    km = sv.kaplan_meier(t, e)
    assert (km["survival"] == 1).all()
    med = sv.km_median(t, e)
    assert np.isnan(med.median) and "censored" in med.reason
    assert sv.survival_at(t, e, 8).estimate == 1
    m = sv.km_mean(t, e)
    assert m.mean == 8 and m.se == 0 and m.reason
    fu = sv.median_follow_up(t, e)  # reverse KM: every censoring is an "event"
    assert fu.median == 5  # S_rev = 2/3, 1/3 -> first <= 0.5 at 5
    res = sv.logrank(t, e, ["a", "b", "a"])
    assert np.isnan(res["p_value"]) and "no events" in res["reason"]


def test_single_event():
    km = sv.kaplan_meier([5], [1])
    assert km["survival"].tolist() == [1, 0]
    assert sv.km_median([5], [1]).median == 5
    m = sv.km_mean([5], [1])
    assert m.mean == 5 and m.se == 0
    # one event among censorings: 1+, 2, 3+ -> S(2) = 1 - 1/2, V = 1/(2*1)
    s, lo, hi = _loglog_ci([(2, 1)])
    got = sv.survival_at([1, 2, 3], [0, 1, 0], 2)
    assert (got.estimate, got.ci_lower, got.ci_upper) == pytest.approx((s, lo, hi))
    fu = sv.median_follow_up([5], [1])
    assert np.isnan(fu.median) and "no censored" in fu.reason


def test_logrank_one_group_and_empty_group():
    one = sv.logrank([1, 2, 3], [1, 1, 1], ["a", "a", "a"])
    assert np.isnan(one["p_value"]) and "fewer than two" in one["reason"]
    # categorical with an unused category: the empty group drops out -> 2-group test
    g = pd.Categorical(["a", "a", "b", "b"], categories=["a", "b", "c"])
    t, e = [1, 3, 2, 4], [1, 1, 1, 1]
    res = sv.logrank(t, e, g)
    stat, _ = _hand_logrank(t, e, list(g))
    assert res["test"] == "log-rank" and res["statistic"] == pytest.approx(stat)


def test_logrank_group_without_events_is_computed():
    t, e, g = [1, 2, 3, 4, 5], [1, 1, 0, 1, 0], ["a", "a", "b", "a", "b"]
    res = sv.logrank(t, e, g)
    stat, _ = _hand_logrank(t, e, g)
    assert res["statistic"] == pytest.approx(stat) and res["reason"] is None
    assert "no events" in res["note"]


def test_logrank_zero_variance():
    # b is censored before any event: never at risk together with a
    res = sv.logrank([1, 2, 0.5], [1, 1, 0], ["a", "a", "b"])
    assert np.isnan(res["statistic"]) and "zero variance" in res["reason"]


def test_invalid_input_raises():
    with pytest.raises(ValueError):
        sv.kaplan_meier([1, -2], [1, 1])
    with pytest.raises(ValueError):
        sv.kaplan_meier([1, 2], [1, 2])
    with pytest.raises(ValueError):
        sv.kaplan_meier([1, 2], [1])

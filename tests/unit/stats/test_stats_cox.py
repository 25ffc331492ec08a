"""Tests of cartwh.stats.cox against independently known values.

* Freireich et al. (1963) 6-MP vs placebo remission times (weeks), R ``MASS::gehan``.
  R ``coxph(Surv(time, cens) ~ treat, data = gehan)`` (Efron): control vs 6-MP coef
  1.5721, exp(coef) 4.8169, se 0.4124, z 3.812, p 0.000138, 95 % CI of the HR
  2.147-10.81, likelihood ratio test 16.35 on 1 df, concordance 0.69.
* Rossi recidivism data (shipped in lifelines). Fox & Weisberg, "Cox Proportional-Hazards
  Regression for Survival Data in R" (appendix to An R Companion to Applied Regression,
  2019), ``coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio)``.
  The same fit's score test (R: "Score (logrank) test = 17.25 on 1 df"), and for Rossi
  "Likelihood ratio test= 33.27 on 7 df", "Score (logrank) test = 33.53 on 7 df".
* Tiny cases solved by hand (``test_hand_computed_two_groups``, and under separation
  ``test_separated_tests_by_hand``).
"""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_rossi
from scipy.optimize import brentq, minimize_scalar
from scipy.stats import chi2

from cartwh.stats.cox import COLUMNS, cox_model

MP_T = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
MP_E = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
PL_T = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]
GEHAN = pd.DataFrame({"weeks": MP_T + PL_T, "relapse": MP_E + [1] * 21, "treat": ["6-MP"] * 21 + ["control"] * 21})
ROSSI_TERMS = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
# Fox & Weisberg (2019): coef and se(coef)
ROSSI_PUBLISHED = {
    "fin": (-0.37942, 0.19138),
    "age": (-0.05744, 0.02200),
    "race": (0.31390, 0.30799),
    "wexp": (-0.14980, 0.21222),
    "mar": (-0.43370, 0.38187),
    "paro": (-0.08487, 0.19576),
    "prio": (0.09150, 0.02865),
}


def fit_quietly(*args, **kwargs) -> pd.DataFrame:
    """cox_model with every warning turned into an error: nothing may leak from lifelines."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return cox_model(*args, **kwargs)


# ---------------------------------------------------------------- published values
def test_gehan_matches_r_coxph():
    out = fit_quietly(GEHAN, "weeks", "relapse", ["treat"])
    assert list(out.columns) == COLUMNS and len(out) == 1
    row = out.iloc[0]
    assert (row["term"], row["factor"], row["level"], row["reference"]) == ("treat=control", "treat", "control", "6-MP")
    assert row["coef"] == pytest.approx(1.5721, abs=5e-4)
    assert row["se"] == pytest.approx(0.4124, abs=5e-4)
    assert row["hazard_ratio"] == pytest.approx(4.8169, abs=5e-4)
    assert row["ci_lower"] == pytest.approx(2.147, abs=5e-3)
    assert row["ci_upper"] == pytest.approx(10.81, abs=5e-3)
    assert row["z"] == pytest.approx(3.812, abs=5e-4)
    assert row["p_value"] == pytest.approx(0.000138, abs=5e-7)
    assert chi2.isf(row["likelihood_ratio_p"], 1) == pytest.approx(16.35, abs=5e-3)
    assert row["likelihood_ratio_statistic"] == pytest.approx(16.35, abs=5e-3) and row["likelihood_ratio_df"] == 1
    assert row["score_statistic"] == pytest.approx(17.25, abs=5e-3)
    assert row["score_p"] == pytest.approx(3.283e-05, abs=5e-9)
    assert row["concordance"] == pytest.approx(0.69, abs=5e-3)
    assert (row["method"], row["n"], row["events"], row["n_dropped_missing"], row["reason"]) == ("cox", 42, 30, 0, None)


def test_gehan_explicit_reference_flips_the_contrast():
    row = fit_quietly(GEHAN, "weeks", "relapse", ["treat"], reference={"treat": "control"}).iloc[0]
    assert (row["term"], row["reference"]) == ("treat=6-MP", "control")
    assert row["coef"] == pytest.approx(-1.5721, abs=5e-4)
    assert row["hazard_ratio"] == pytest.approx(1 / 4.8169, abs=5e-4)


def test_rossi_matches_fox_weisberg():
    out = fit_quietly(load_rossi(), "week", "arrest", ROSSI_TERMS)
    assert out["term"].tolist() == ROSSI_TERMS and out["reference"].isna().all()
    for term, (coef, se) in ROSSI_PUBLISHED.items():
        row = out.set_index("term").loc[term]
        assert row["coef"] == pytest.approx(coef, abs=5e-5), term
        assert row["se"] == pytest.approx(se, abs=5e-5), term
    row = out.iloc[0]
    assert chi2.isf(row["likelihood_ratio_p"], 7) == pytest.approx(33.27, abs=5e-3)
    assert row["likelihood_ratio_p"] == pytest.approx(2.4e-05, abs=5e-7)
    assert row["score_statistic"] == pytest.approx(33.53, abs=5e-3)
    assert row["score_p"] == pytest.approx(2.11e-05, abs=5e-8)
    assert row["concordance"] == pytest.approx(0.64, abs=5e-3)
    assert (row["n"], row["events"]) == (432, 114)


def test_rossi_string_factor_is_dummy_coded_against_sorted_first_level():
    # R codes fin as a factor no/yes; the published coefficient is that of "finyes".
    rossi = load_rossi().assign(fin=lambda d: d["fin"].map({0: "no", 1: "yes"}))
    out = fit_quietly(rossi, "week", "arrest", ROSSI_TERMS).set_index("term")
    assert out.loc["fin=yes", "reference"] == "no" and out.loc["fin=yes", "level"] == "yes"
    assert out.loc["fin=yes", "coef"] == pytest.approx(-0.37942, abs=5e-5)
    assert out.loc["prio", "coef"] == pytest.approx(0.09150, abs=5e-5)


def test_rossi_units_do_not_matter():
    # age in thousands of years: variance 6e-5, below lifelines' low-variance warning level;
    # the coefficient per unit is the published one times 1000, and nothing is flagged.
    rossi = load_rossi().assign(age=lambda d: d["age"] / 1000)
    out = fit_quietly(rossi, "week", "arrest", ROSSI_TERMS).set_index("term")
    assert out["reason"].isna().all()
    assert out.loc["age", "coef"] == pytest.approx(-57.44, abs=5e-2)
    assert out.loc["age", "se"] == pytest.approx(22.00, abs=5e-2)
    assert out.loc["prio", "coef"] == pytest.approx(0.09150, abs=5e-5)


# ---------------------------------------------------------------- hand computation
def test_hand_computed_two_groups():
    # A (x = 0) events at 1 and 3, B (x = 1) events at 2 and 4; no ties, no censoring,
    # so Efron = Breslow = exact. With r = exp(b), the risk sets give
    #   t=1 {A1,B2,A3,B4}, A fails:  1 / (2 + 2r)
    #   t=2 {B2,A3,B4},    B fails:  r / (1 + 2r)
    #   t=3 {A3,B4},       A fails:  1 / (1 + r)
    #   t=4 {B4},          B fails:  r / r = 1
    # l(b) = b - log(2 + 2r) - log(1 + 2r) - log(1 + r)
    # U(b) = 1 - r/(1+r) - 2r/(1+2r) - r/(1+r) = 1 - 2r/(1+r) - 2r/(1+2r)
    # U = 0  <=>  (1+r)(1+2r) = 2r(1+2r) + 2r(1+r)  <=>  4r^2 + r - 1 = 0
    #        <=>  r = (sqrt(17) - 1) / 8,  b = log r = -0.9406...
    # Information I(b) = -U'(b) = 2r/(1+r)^2 + 2r/(1+2r)^2, se = I^-1/2.
    def loglik(b):
        r = math.exp(b)
        return b - math.log(2 + 2 * r) - math.log(1 + 2 * r) - math.log(1 + r)

    def score(b, h=1e-6):  # central difference of the hand-written partial log-likelihood
        return (loglik(b + h) - loglik(b - h)) / (2 * h)

    b_hat = brentq(score, -5, 5, xtol=1e-12)
    assert b_hat == pytest.approx(math.log((math.sqrt(17) - 1) / 8), abs=1e-6)  # the two hand routes agree
    r = math.exp(b_hat)
    se_hand = (2 * r / (1 + r) ** 2 + 2 * r / (1 + 2 * r) ** 2) ** -0.5

    data = pd.DataFrame({"t": [1, 3, 2, 4], "e": [1, 1, 1, 1], "g": ["A", "A", "B", "B"]})
    row = fit_quietly(data, "t", "e", ["g"]).iloc[0]
    assert row["term"] == "g=B"
    assert row["coef"] == pytest.approx(b_hat, abs=1e-6)
    assert row["se"] == pytest.approx(se_hand, abs=1e-6)


# ---------------------------------------------------------------- edge cases
def assert_not_estimable(out: pd.DataFrame, *fragments: str):
    assert out[["coef", "se", "hazard_ratio", "ci_lower", "ci_upper", "z", "p_value"]].isna().all().all()
    assert out[["concordance", "likelihood_ratio_p", "score_p"]].isna().all().all()
    for fragment in fragments:
        assert out["reason"].str.contains(fragment, regex=False).all(), (fragment, out["reason"].iloc[0])


def assert_separated(out: pd.DataFrame, *fragments: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The partial-likelihood rows: no estimates, the reason, but both model tests; then the
    Firth rows with finite estimates. Returns both."""
    ml, penalised = out[out["method"] == "cox"], out[out["method"] == "firth"]
    assert len(ml) == len(penalised) and ml["term"].tolist() == penalised["term"].tolist()
    assert ml[["coef", "se", "hazard_ratio", "p_value", "concordance"]].isna().all().all()
    assert ml[["likelihood_ratio_statistic", "likelihood_ratio_p", "score_statistic", "score_p"]].notna().all().all()
    for fragment in fragments:
        assert ml["reason"].str.contains(fragment, regex=False).all(), (fragment, ml["reason"].iloc[0])
    assert np.isfinite(penalised[["coef", "se", "hazard_ratio", "p_value"]].to_numpy(float)).all()
    assert penalised["reason"].isna().all() and penalised["score_p"].isna().all()
    return ml, penalised


def test_separation_level_without_events_is_named():
    data = pd.DataFrame(
        {
            "t": [1, 2, 3, 4, 5, 6, 7, 8, 9],
            "e": [1, 0, 1, 1, 0, 1, 0, 0, 0],
            "bridge": ["chemo"] * 3 + ["none"] * 3 + ["inotuzumab"] * 3,
        }
    )
    out = fit_quietly(data, "t", "e", ["bridge"], reference={"bridge": "none"})
    assert out["term"].tolist() == ["bridge=chemo", "bridge=inotuzumab"] * 2
    _, penalised = assert_separated(out, "monotone likelihood", "bridge=inotuzumab")
    assert penalised.set_index("term").loc["bridge=inotuzumab", "hazard_ratio"] < 1  # no events: a low hazard


def test_separation_all_events_in_one_level():
    data = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1, 1, 1, 0, 0, 0], "g": list("AAABBB")})
    assert_separated(fit_quietly(data, "t", "e", ["g"]), "no events in g=B")


def test_separation_without_an_empty_level_is_caught_after_fitting():
    # Every event has the largest x in its risk set (B fails at 1 and 2 before any A),
    # so the partial likelihood increases forever in b; no level is free of events.
    data = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 1, 1], "g": ["B", "B", "A", "A"]})
    assert_separated(fit_quietly(data, "t", "e", ["g"]), "monotone likelihood", "runaway")


def test_separated_tests_by_hand():
    # Three events at 1, 2, 3 with x = 1, 1, 0 (coxphf's own example of monotone likelihood).
    # Risk sets {1,2,3}, {2,3}, {3}; with r = exp(b):
    #   l(b) = [b - log(2r + 1)] + [b - log(r + 1)] + 0, increasing in b without a maximum,
    #   sup l = lim (2b - log(2r+1) - log(r+1)) = -log 2;  l(0) = -log 3 - log 2
    #   => likelihood-ratio statistic 2 (sup l - l(0)) = 2 log 3.
    #   U(0) = (1 - 2/3) + (1 - 1/2) = 5/6,  I(0) = (2/3)(1/3) + (1/2)(1/2) = 17/36
    #   => score statistic U(0)^2 / I(0) = 25/17.
    # No ties, so Efron = Breslow: Firth maximises l(b) + 1/2 log I(b) with
    #   I(b) = 2r/(2r+1)^2 + r/(r+1)^2, found here by a one-dimensional search.
    data = pd.DataFrame({"t": [1, 2, 3], "e": [1, 1, 1], "x": ["yes", "yes", "no"]})
    ml, penalised = assert_separated(fit_quietly(data, "t", "e", ["x"]), "monotone likelihood")
    assert ml["likelihood_ratio_statistic"].iloc[0] == pytest.approx(2 * math.log(3), abs=1e-8)
    assert ml["score_statistic"].iloc[0] == pytest.approx(25 / 17, abs=1e-12)
    assert ml["score_p"].iloc[0] == pytest.approx(chi2.sf(25 / 17, 1), abs=1e-12)

    def penalised_loglik(b):
        r = math.exp(b)
        information = 2 * r / (2 * r + 1) ** 2 + r / (r + 1) ** 2
        return 2 * b - math.log(2 * r + 1) - math.log(r + 1) + 0.5 * math.log(information)

    best = minimize_scalar(lambda b: -penalised_loglik(b), bounds=(-10, 10), method="bounded", options={"xatol": 1e-10})
    row = penalised.iloc[0]
    assert row["coef"] == pytest.approx(best.x, abs=1e-6)
    lr = 2 * (penalised_loglik(best.x) - penalised_loglik(0.0))
    assert row["likelihood_ratio_statistic"] == pytest.approx(lr, abs=1e-8)
    assert row["p_value"] == pytest.approx(chi2.sf(lr, 1), abs=1e-8)  # one term: its test is the model's
    cutoff = penalised_loglik(best.x) - chi2.ppf(0.95, 1) / 2
    lower = brentq(lambda b: penalised_loglik(b) - cutoff, -20, best.x)
    upper = brentq(lambda b: penalised_loglik(b) - cutoff, best.x, 20)
    assert row["ci_lower"] == pytest.approx(math.exp(lower), rel=1e-6)
    assert row["ci_upper"] == pytest.approx(math.exp(upper), rel=1e-6)


def test_no_events():
    data = GEHAN.assign(relapse=0)
    assert_not_estimable(fit_quietly(data, "weeks", "relapse", ["treat"]), "no events")


def test_single_level_factor_and_constant_numeric():
    out = fit_quietly(GEHAN.assign(site="Brno"), "weeks", "relapse", ["treat", "site"])
    assert out["term"].tolist() == ["treat=control", "site"]
    assert_not_estimable(out, "single level 'Brno'")
    assert_not_estimable(fit_quietly(GEHAN.assign(x=3.0), "weeks", "relapse", ["x"]), "constant")


def test_fewer_events_than_terms():
    data = pd.DataFrame(
        {
            "t": [1, 2, 3, 4, 5, 6],
            "e": [1, 0, 1, 0, 0, 0],
            "a": [1.0, 2, 3, 4, 5, 7],
            "b": [2.0, 1, 5, 3, 4, 0],
            "c": [0.5, 0.1, 0.9, 0.3, 0.2, 0.4],
        }
    )
    assert_not_estimable(fit_quietly(data, "t", "e", ["a", "b", "c"]), "fewer events (2) than terms (3)")


def test_empty_data():
    out = fit_quietly(GEHAN.iloc[:0], "weeks", "relapse", ["treat"])
    assert_not_estimable(out, "empty data")
    assert (out["n"].iloc[0], out["events"].iloc[0]) == (0, 0)


def test_missing_values_dropped_and_counted():
    rossi = load_rossi().astype({"age": float, "fin": float})
    rossi.loc[[0, 5, 9, 20, 33], "age"] = np.nan
    rossi.loc[[5, 40, 41], "fin"] = np.nan  # row 5 is missing twice: counted once
    out = fit_quietly(rossi, "week", "arrest", ROSSI_TERMS)
    complete = fit_quietly(rossi.dropna(), "week", "arrest", ROSSI_TERMS)
    assert (out["n_dropped_missing"] == 7).all() and (out["n"] == 432 - 7).all()
    assert (complete["n_dropped_missing"] == 0).all()
    np.testing.assert_allclose(out["coef"], complete["coef"], rtol=1e-10)


def test_event_column_bool_int_object_and_string():
    as_int = fit_quietly(GEHAN, "weeks", "relapse", ["treat"])
    as_bool = fit_quietly(GEHAN.assign(relapse=GEHAN["relapse"].astype(bool)), "weeks", "relapse", ["treat"])
    np.testing.assert_allclose(as_bool["coef"], as_int["coef"], rtol=1e-12)
    # bools with a gap arrive as object dtype; the missing row is dropped and counted
    gap = pd.DataFrame({"weeks": [3], "relapse": [None], "treat": ["control"]})
    with_gap = pd.concat([GEHAN.assign(relapse=GEHAN["relapse"].astype(bool).astype(object)), gap], ignore_index=True)
    out = fit_quietly(with_gap, "weeks", "relapse", ["treat"])
    assert out["n_dropped_missing"].iloc[0] == 1
    np.testing.assert_allclose(out["coef"], as_int["coef"], rtol=1e-12)
    with pytest.raises(ValueError, match="event"):
        cox_model(GEHAN.assign(relapse=np.where(GEHAN["relapse"] == 1, "yes", "no")), "weeks", "relapse", ["treat"])
    with pytest.raises(ValueError, match="event"):
        cox_model(GEHAN.assign(relapse=GEHAN["relapse"] * 2), "weeks", "relapse", ["treat"])


def test_invalid_input_raises():
    with pytest.raises(ValueError, match="reference level"):
        cox_model(GEHAN, "weeks", "relapse", ["treat"], reference={"treat": "placebo"})
    with pytest.raises(ValueError, match="durations"):
        cox_model(GEHAN.assign(weeks=-GEHAN["weeks"]), "weeks", "relapse", ["treat"])
    with pytest.raises(ValueError, match="unknown column"):
        cox_model(GEHAN, "weeks", "relapse", ["arm"])
    with pytest.raises(ValueError, match="factor"):
        cox_model(GEHAN, "weeks", "relapse", [])
    with pytest.raises(ValueError, match="numeric"):
        cox_model(load_rossi(), "week", "arrest", ["fin"], reference={"fin": 0})

"""Cox proportional-hazards regression as one small pure function, ``cox_model``.

The fit is lifelines' ``CoxPHFitter`` with its defaults, Efron's method for tied event
times and no penalizer (R ``coxph``'s defaults too, so the numbers match R), only with a
tighter convergence tolerance (see ``FIT_OPTIONS``) and its sums over tied event times always
vectorised (``batch_mode``): lifelines picks between that and a Python loop over the event times by
a timing model, which chose the loop for a registry's three-factor models, 7x slower (1.4 against
0.2 s a fit at 100,000 patients, estimates equal to 4e-14). Coding of factors, dropped rows and the
standardisation of numeric factors: ``cartwh.stats.design``.

Every row names its ``method`` (``cartwh.stats.conventions.REGRESSION_METHODS``):

* ``cox``: hazard-ratio CIs and p-values are Wald: exp(coef -+ z se) and 2 P(Z > |coef / se|).
  ``concordance`` is the model's Harrell C. Each row repeats the model's tests, as R's
  ``summary.coxph`` prints them: the likelihood-ratio test 2 (log L(beta) - log L(0)) and the
  score ("logrank") test U(0)' I(0)^-1 U(0), chi-square on one df per term, Efron ties
  (``cartwh.stats.partial_likelihood``).
* ``firth``: added when the likelihood is monotone (separation: a factor level without events,
  or an estimate running off, |coef| > 10 or se > 10 on the per-SD scale). The partial
  likelihood has no maximum then, so the ``cox`` rows have NaN estimates and say why, but keep
  their likelihood-ratio test (at the supremum the likelihood approaches, as R prints it) and
  score test, which stay valid; the ``firth`` rows that follow hold Firth's penalised estimates
  with R ``coxphf``'s definitions (``cartwh.stats.firth``): profile penalised-likelihood CIs,
  penalised likelihood-ratio p-values, and the model's penalised likelihood-ratio test.

Not estimable -> rows with NaN estimates and the same ``reason`` (never an exception): empty
data; no events; a factor with a single level (or a constant numeric factor); fewer events
than terms; a lifelines fitting error or convergence warning without a runaway estimate
(collinear factors). lifelines' warnings are captured, never logged.

Invalid input raises ``ValueError``: see ``cartwh.stats.design``, and an event column that is
not bool or 0/1, ``level`` outside (0, 1).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from lifelines.utils import concordance_index
from pandas.api.types import is_bool_dtype
from scipy.stats import norm

from cartwh.stats import firth, partial_likelihood
from cartwh.stats.design import Design, complete_cases, design_matrix, is_numeric, is_separation

COLUMNS = [
    "term",
    "factor",
    "level",
    "reference",
    "method",
    "coef",
    "se",
    "hazard_ratio",
    "ci_lower",
    "ci_upper",
    "z",
    "p_value",
    "n",
    "events",
    "n_dropped_missing",
    "concordance",
    "likelihood_ratio_statistic",
    "likelihood_ratio_df",
    "likelihood_ratio_p",
    "score_statistic",
    "score_p",
    "reason",
]
ESTIMATES = ["coef", "se", "hazard_ratio", "ci_lower", "ci_upper", "z", "p_value", "concordance"]
TESTS = ["likelihood_ratio_statistic", "likelihood_ratio_df", "likelihood_ratio_p", "score_statistic", "score_p"]
MAX_COEF = 10.0  # a hazard ratio beyond e^10 (about 22 000) is a runaway estimate, not a finding
MAX_SE = 10.0  # likewise a CI spanning e^(+-20): the likelihood is flat, the MLE is at infinity
# lifelines' default stopping rules (Newton step or decrement < 1e-7, relative change of the
# log-likelihood < 1e-9) return the estimate before the last, unapplied step: coef can be
# ~1e-6 off the maximum. Newton converges quadratically, so one more iteration is enough.
FIT_OPTIONS = {"precision": 1e-12, "r_precision": 1e-12}
T, E = "__duration", "__event"  # internal names, so factor names can never collide with them


def _first_sentence(message) -> str:
    text = str(message.args[0] if isinstance(message, Exception) and message.args else message)
    return text.strip().split(". ")[0].rstrip(".")


def term_rows(design: Design, method: str, columns: list[str], **counts) -> pd.DataFrame:
    """One row per term, every estimate NaN: what each regression fills in."""
    out = pd.DataFrame([t._asdict() for t in design.terms], columns=["term", "factor", "level", "reference"])
    out = out.reindex(columns=columns).assign(method=method, **counts)
    numbers = [c for c in columns if c not in ("term", "factor", "level", "reference", "method", "reason", *counts)]
    return out.astype(dict.fromkeys(numbers, float))


def _fit(X: pd.DataFrame, level: float) -> tuple[CoxPHFitter | None, str | None]:
    """Fit, turning lifelines' convergence errors and warnings into a reason."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # capture everything: nothing spills into the logs
        try:
            fitted = CoxPHFitter(alpha=1 - level).fit(X, T, E, fit_options=FIT_OPTIONS, batch_mode=True)
        except (ConvergenceError, np.linalg.LinAlgError, ZeroDivisionError, ValueError) as exc:
            return None, f"fit failed (collinearity or separation?): {_first_sentence(exc)}"
    trouble = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    return fitted, (_first_sentence(trouble[0].message) if trouble else None)


def _tests(X: np.ndarray, t: np.ndarray, e: np.ndarray) -> dict:
    lr = partial_likelihood.likelihood_ratio_at_supremum(X, t, e)
    score = partial_likelihood.score_test(X, t, e)
    return dict(
        likelihood_ratio_statistic=lr.statistic,
        likelihood_ratio_df=lr.df,
        likelihood_ratio_p=lr.p_value,
        score_statistic=score.statistic,
        score_p=score.p_value,
    )


def _firth_rows(
    design: Design, X: np.ndarray, t: np.ndarray, e: np.ndarray, level: float, counts: dict
) -> pd.DataFrame:
    out = term_rows(design, "firth", COLUMNS, **counts)
    try:
        fit = firth.firth_cox(X, t, e, level)
    except (firth.NotConverged, np.linalg.LinAlgError) as error:
        return out.assign(reason=f"Firth's penalised likelihood not estimable: {_first_sentence(error)}")
    scale = np.array([term.scale for term in design.terms])
    coef = fit.coef / scale
    out["coef"], out["se"], out["hazard_ratio"] = coef, fit.se / scale, np.exp(coef)
    out["ci_lower"], out["ci_upper"] = np.exp(fit.ci_lower / scale), np.exp(fit.ci_upper / scale)
    out["p_value"] = fit.p_value
    out["concordance"] = concordance_index(t, -(X @ fit.coef), e)
    out["likelihood_ratio_statistic"] = fit.lr_statistic
    out["likelihood_ratio_df"] = fit.lr_df
    out["likelihood_ratio_p"] = fit.lr_p
    out["reason"] = None
    return out


def cox_model(
    data: pd.DataFrame,
    duration: str,
    event: str,
    factors: list[str],
    reference: dict[str, str] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Cox model of ``duration`` (with ``event``, 1 = event) on ``factors``; one row per term and
    method. Columns: see ``COLUMNS``. See the module docstring for methods, tests and edge cases.
    """
    if not 0 < level < 1:
        raise ValueError("level must lie strictly between 0 and 1")
    df, dropped = complete_cases(data, duration, event, factors)
    if len(df):
        e = df[event]
        if not (is_bool_dtype(e) or is_numeric(e)) or not e.astype(float).isin([0.0, 1.0]).all():
            raise ValueError("the event column must be bool or 0/1 (1 = event)")
    events = df[event].astype(float)
    design = design_matrix(df, events, factors, reference or {})
    n, n_events = len(df), int(events.sum())
    counts = dict(n=n, events=n_events, n_dropped_missing=dropped)
    out = term_rows(design, "cox", COLUMNS, **counts)

    def not_estimable(reason: str) -> pd.DataFrame:
        return out.assign(reason=reason)

    if n == 0:
        return not_estimable(f"no rows to fit ({dropped} dropped for missing values)" if dropped else "empty data")
    if n_events == 0:
        return not_estimable("no events: hazard ratios undefined")
    structural = [p for p in design.problems if not is_separation(p)]
    if structural:
        return not_estimable("; ".join(structural))
    if n_events < len(design.terms):
        return not_estimable(f"fewer events ({n_events}) than terms ({len(design.terms)})")

    X, t, e = design.X.to_numpy(float), df[duration].to_numpy(float), events.to_numpy(float)
    try:
        tests = _tests(X, t, e)
    except np.linalg.LinAlgError:
        return not_estimable("collinear factors: the information matrix is singular")
    separated = [p for p in design.problems if is_separation(p)]
    if not separated:
        fitted, warning = _fit(design.X.assign(**{T: t, E: e.astype(int)}), level)
        if fitted is None:
            return not_estimable(warning)
        names = [term.term for term in design.terms]
        coef, se = fitted.params_[names].to_numpy(), fitted.standard_errors_[names].to_numpy()
        runaway = ~np.isfinite(coef * se) | (np.abs(coef) > MAX_COEF) | (se > MAX_SE)
        scale = np.array([term.scale for term in design.terms])
        coef, se = coef / scale, se / scale  # fitted per SD: the MLE is scale-equivariant
        if runaway.any():
            separated = [
                "monotone likelihood (separation) suspected: runaway estimate for "
                + ", ".join(
                    f"{m} (coef {c:.3g}, se {s:.3g})" for m, c, s, r in zip(names, coef, se, runaway, strict=True) if r
                )
            ]
        elif warning:
            return not_estimable(f"monotone likelihood or collinearity suspected; lifelines: {warning}").assign(**tests)
    if separated:
        reason = "; ".join(separated) + " (the likelihood-ratio and score tests stay valid; Firth's estimate follows)"
        return pd.concat(
            [out.assign(**tests, reason=reason), _firth_rows(design, X, t, e, level, counts)], ignore_index=True
        )
    q = norm.ppf(0.5 + level / 2)
    out["coef"], out["se"], out["hazard_ratio"] = coef, se, np.exp(coef)
    out["ci_lower"], out["ci_upper"] = np.exp(coef - q * se), np.exp(coef + q * se)
    out["z"] = coef / se
    out["p_value"] = 2 * norm.sf(np.abs(out["z"]))
    out["concordance"] = float(fitted.concordance_index_)
    return out.assign(**tests, reason=None)

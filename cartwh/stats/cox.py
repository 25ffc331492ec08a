"""Cox proportional-hazards regression as one small pure function, ``cox_model``.

The fit is lifelines' ``CoxPHFitter`` with its defaults, Efron's method for tied event
times and no penalizer (R ``coxph``'s defaults too, so the numbers match R), only with a
tighter convergence tolerance (see ``FIT_OPTIONS``).

Conventions:

* Factors holding strings, categories or booleans are dummy-coded against a reference
  level: ``reference[factor]`` if given, else the first level in sorted (string) order.
  A dummy term is named ``"factor=level"``. Numeric factors enter as one linear term named
  after the column (integer group codes are therefore NOT dummy-coded: pass them as str).
* Rows with a missing value in the duration, event or any factor column are dropped and
  counted in ``n_dropped_missing``; ``n`` and ``events`` describe the rows used.
* Hazard-ratio CIs and p-values are Wald: exp(coef -+ z se) and 2 P(Z > |coef / se|).
  ``concordance`` is the model's Harrell C, ``likelihood_ratio_p`` the p-value of the
  model's likelihood-ratio test (chi-square with one df per term).

Not estimable -> every row has NaN estimates and the same ``reason`` (never an exception).
The whole model is reported NaN, not only the offending term: when one coefficient runs
off to infinity the others are not trustworthy either. Reasons: empty data; no events; a
factor with a single level (or a constant numeric factor); monotone likelihood, i.e.
separation: a factor level with no events (checked before fitting, the reason names the
level), or, after fitting, a lifelines convergence warning or an estimate beyond
|coef| > 10 or se > 10 (for numeric factors on the per-SD scale, so units do not matter);
fewer events than terms; a lifelines fitting error (e.g. collinear factors). lifelines'
warnings are captured, never logged. Numeric factors are handed to lifelines divided by
their SD (an exact reparametrisation, undone in the output), so tiny-unit factors do not
trip lifelines' low-variance check.

Invalid input raises ``ValueError``: no factors, unknown columns, an event column that is
not bool or 0/1, negative or infinite durations, an unobserved reference level, a reference
level for a numeric factor, ``level`` outside (0, 1).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from scipy.stats import norm

COLUMNS = [
    "term",
    "factor",
    "level",
    "reference",
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
    "likelihood_ratio_p",
    "reason",
]
MAX_COEF = 10.0  # a hazard ratio beyond e^10 (about 22 000) is a runaway estimate, not a finding
MAX_SE = 10.0  # likewise a CI spanning e^(+-20): the likelihood is flat, the MLE is at infinity
# lifelines' default stopping rules (Newton step or decrement < 1e-7, relative change of the
# log-likelihood < 1e-9) return the estimate before the last, unapplied step: coef can be
# ~1e-6 off the maximum. Newton converges quadratically, so one more iteration is enough.
FIT_OPTIONS = {"precision": 1e-12, "r_precision": 1e-12}
T, E = "__duration", "__event"  # internal names, so factor names can never collide with them


def _is_numeric(s: pd.Series) -> bool:
    return is_numeric_dtype(s) and not is_bool_dtype(s)


def _first_sentence(message) -> str:
    text = str(message.args[0] if isinstance(message, Exception) and message.args else message)
    return text.strip().split(". ")[0].rstrip(".")


def _clean(data: pd.DataFrame, duration: str, event: str, factors: list[str]) -> tuple[pd.DataFrame, int]:
    if not factors:
        raise ValueError("at least one factor is needed")
    unknown = [c for c in [duration, event, *factors] if c not in data.columns]
    if unknown:
        raise ValueError(f"unknown column(s): {unknown}")
    if len(set(factors)) < len(factors) or {duration, event} & set(factors):
        raise ValueError("factors must be distinct and differ from the duration and event columns")
    used = data[[duration, event, *factors]]
    keep = ~used.isna().any(axis=1)
    df = used[keep].reset_index(drop=True).infer_objects()  # object bools with None become bool
    if len(df):
        t, e = df[duration], df[event]
        if not _is_numeric(t) or not np.isfinite(t).all() or (t < 0).any():
            raise ValueError("durations must be numeric, finite and non-negative")
        if not (is_bool_dtype(e) or _is_numeric(e)) or not e.astype(float).isin([0.0, 1.0]).all():
            raise ValueError("the event column must be bool or 0/1 (1 = event)")
    return df, int((~keep).sum())


def _design(df: pd.DataFrame, event: str, factors: list[str], reference: dict) -> tuple[list, pd.DataFrame, list]:
    """Term descriptions, the design matrix (one column per term) and structural problems."""
    terms, columns, problems = [], {}, []
    events = df[event].astype(float)
    for f in factors:
        col = df[f]
        if _is_numeric(col):
            if f in reference:
                raise ValueError(f"{f!r} is numeric (one linear term), it has no reference level; pass it as str")
            sd = float(col.std())
            terms.append(dict(term=f, factor=f, level=None, reference=None, scale=sd))
            columns[f] = col / sd if sd > 0 else col.astype(float)  # fitted per SD, see cox_model
            if len(df) and col.nunique() < 2:
                problems.append(f"factor {f!r} is constant ({col.iloc[0]:g})")
            continue
        col = col.astype(str)
        levels = sorted(col.unique())
        ref = str(reference[f]) if f in reference else (levels[0] if levels else None)
        if levels and ref not in levels:
            raise ValueError(f"reference level {ref!r} of {f!r} is not among its levels {levels}")
        if len(levels) < 2:
            terms.append(dict(term=f, factor=f, level=None, reference=ref, scale=1.0))
            if levels:
                problems.append(f"factor {f!r} has a single level {ref!r}: nothing to compare")
            continue
        per_level = events.groupby(col).agg(["sum", "size"])
        for lvl in levels:
            if lvl != ref:
                terms.append(dict(term=f"{f}={lvl}", factor=f, level=lvl, reference=ref, scale=1.0))
                columns[f"{f}={lvl}"] = (col == lvl).astype(float)
            if per_level.loc[lvl, "sum"] == 0:
                which = "reference level, " if lvl == ref else ""
                size = per_level.loc[lvl, "size"]
                problems.append(
                    f"monotone likelihood (separation): no events in {f}={lvl} "
                    f"({which}0 of {size} rows), a hazard ratio is infinite"
                )
    return terms, pd.DataFrame(columns, index=df.index), problems


def _fit(X: pd.DataFrame, level: float) -> tuple[CoxPHFitter | None, str | None]:
    """Fit, turning lifelines' convergence errors and warnings into a reason."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # capture everything: nothing spills into the logs
        try:
            fitted = CoxPHFitter(alpha=1 - level).fit(X, T, E, fit_options=FIT_OPTIONS)
        except (ConvergenceError, np.linalg.LinAlgError, ZeroDivisionError, ValueError) as exc:
            return None, f"fit failed (collinearity or separation?): {_first_sentence(exc)}"
    trouble = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    return fitted, (_first_sentence(trouble[0].message) if trouble else None)


def cox_model(
    data: pd.DataFrame,
    duration: str,
    event: str,
    factors: list[str],
    reference: dict[str, str] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Cox model of ``duration`` (with ``event``, 1 = event) on ``factors``; one row per term.

    Columns: see ``COLUMNS``. See the module docstring for coding, CIs and edge cases.
    """
    if not 0 < level < 1:
        raise ValueError("level must lie strictly between 0 and 1")
    df, dropped = _clean(data, duration, event, factors)
    terms, X, problems = _design(df, event, factors, reference or {})
    n, n_events = len(df), int(df[event].astype(float).sum())
    out = pd.DataFrame(terms).drop(columns="scale").reindex(columns=COLUMNS)
    out = out.astype({c: float for c in COLUMNS[4:11] + ["concordance", "likelihood_ratio_p"]})
    out[["n", "events", "n_dropped_missing"]] = n, n_events, dropped

    def not_estimable(reason: str) -> pd.DataFrame:
        out["reason"] = reason
        return out

    if n == 0:
        return not_estimable(f"no rows to fit ({dropped} dropped for missing values)" if dropped else "empty data")
    if n_events == 0:
        return not_estimable("no events: hazard ratios undefined")
    if problems:
        return not_estimable("; ".join(problems))
    if n_events < len(terms):
        return not_estimable(f"fewer events ({n_events}) than terms ({len(terms)})")

    X = X.assign(**{T: df[duration].astype(float), E: df[event].astype(float).astype(int)})
    fitted, warning = _fit(X, level)
    if fitted is None:
        return not_estimable(warning)
    names = [t["term"] for t in terms]
    # numeric factors were fitted per SD: the MLE is scale-equivariant, so dividing by the SD
    # gives the per-unit coef and se exactly, and the runaway check is independent of units
    coef, se = fitted.params_[names].to_numpy(), fitted.standard_errors_[names].to_numpy()
    runaway = ~np.isfinite(coef * se) | (np.abs(coef) > MAX_COEF) | (se > MAX_SE)
    scale = np.array([t["scale"] for t in terms])
    coef, se = coef / scale, se / scale
    if runaway.any():
        which = ", ".join(
            f"{nm} (coef {c:.3g}, se {s:.3g})" for nm, c, s, r in zip(names, coef, se, runaway, strict=True) if r
        )
        return not_estimable(f"monotone likelihood (separation) suspected: runaway estimate for {which}")
    if warning:
        return not_estimable(f"monotone likelihood or collinearity suspected; lifelines: {warning}")
    q = norm.ppf(0.5 + level / 2)
    z = coef / se
    out["coef"], out["se"], out["hazard_ratio"] = coef, se, np.exp(coef)
    out["ci_lower"], out["ci_upper"] = np.exp(coef - q * se), np.exp(coef + q * se)
    out["z"], out["p_value"] = z, 2 * norm.sf(np.abs(z))
    out["concordance"] = float(fitted.concordance_index_)
    out["likelihood_ratio_p"] = float(fitted.log_likelihood_ratio_test().p_value)
    out["reason"] = None
    return out

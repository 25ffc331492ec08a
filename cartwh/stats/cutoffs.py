"""Cut-off points of a continuous predictor for a binary outcome (e.g. an EFS event).

The paper's Methods: "Cutoff points for variables were calculated using medians or ROC
curves. The quality of these cutoff points was determined using the area under the ROC
curve (AUC), with values above 0.70 considered valid." ``choose_cutoff`` does exactly that.

Conventions:

* AUC = P(X_pos > X_neg) + 1/2 P(X_pos = X_neg) over all outcome-positive/negative pairs
  (the Mann-Whitney U / (n_pos n_neg)). ``direction`` is "higher" when higher values go
  with the outcome. If that AUC is below 0.5 the direction is reversed to "lower" and
  1 - AUC is reported, so the AUC is ALWAYS >= 0.5 (pROC / SPSS "direction auto").
* CI of the AUC: DeLong, DeLong & Clarke-Pearson (1988) with ties counting 1/2, i.e.
  Var = S10 / n_pos + S01 / n_neg, from the structural components V10 (per positive) and
  V01 (per negative); Wald interval, truncated to [0, 1]. It needs at least two positives
  and two negatives, and it is degenerate (zero width) when the groups are separated.
* Youden cut-off: maximises J = sensitivity + specificity - 1 over the midpoints between
  adjacent distinct observed values (SPSS convention), in the AUC's direction. A value is
  called positive if value >= cutoff ("higher") or value < cutoff ("lower"), so the groups
  of ``split_at`` ("< c", ">= c") are the predicted groups in either direction. Tied J:
  the LOWEST cut-off is taken.
* Pairs with a missing value or outcome are dropped; ``n`` counts the pairs used.

Not estimable -> NaN with a ``reason``, never an exception. Invalid input (length mismatch,
outcome not bool or 0/1, a non-finite cut-off for ``split_at``) raises ``ValueError``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

NAN = float("nan")


class RocAuc(NamedTuple):
    auc: float
    ci_lower: float
    ci_upper: float
    direction: str | None  # "higher" | "lower"; None when not estimable or all values tie
    n_positive: int
    n_negative: int
    reason: str | None = None


class Cutoff(NamedTuple):
    cutoff: float
    sensitivity: float
    specificity: float
    youden_j: float
    direction: str | None
    reason: str | None = None


class CutoffChoice(NamedTuple):
    method: str | None  # "roc_youden" | "median"; None when there are no values at all
    cutoff: float
    auc: float
    auc_ci_lower: float
    auc_ci_upper: float
    sensitivity: float  # of the chosen cut-off, in ``direction``
    specificity: float
    youden_j: float
    direction: str | None
    accepted: bool  # True only when AUC > min_auc and the ROC/Youden cut-off is used
    n: int
    events: int
    reason: str | None = None


def _clean(values, outcome) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(values, dtype=float).ravel()
    try:
        y = np.asarray(outcome, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError("outcome must be bool or 0/1 (1 = outcome present)") from None
    if x.shape != y.shape:
        raise ValueError(f"values ({x.size}) and outcome ({y.size}) differ in length")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("outcome must be bool or 0/1 (1 = outcome present)")
    return x, y == 1.0


def _sens_spec(x: np.ndarray, y: np.ndarray, cutoff: float, direction: str) -> tuple[float, float]:
    called = x >= cutoff if direction == "higher" else x < cutoff
    return float(called[y].mean()), float((~called[~y]).mean())


def roc_auc(values, outcome, level: float = 0.95) -> RocAuc:
    """Mann-Whitney AUC (always >= 0.5, see ``direction``) with its DeLong CI at ``level``."""
    if not 0 < level < 1:
        raise ValueError("level must lie strictly between 0 and 1")
    x, y = _clean(values, outcome)
    pos, neg = x[y], x[~y]
    m, n = len(pos), len(neg)
    if m + n == 0:
        return RocAuc(NAN, NAN, NAN, None, 0, 0, "empty input")
    if m == 0 or n == 0:
        return RocAuc(NAN, NAN, NAN, None, m, n, f"no outcome-{'positive' if m == 0 else 'negative'} observations")
    if np.ptp(x) == 0:
        return RocAuc(0.5, NAN, NAN, None, m, n, "all values equal: no discrimination (AUC 0.5), no CI")
    # DeLong's structural components from midranks (Sun & Xu 2014): O(N log N) instead of the
    # m x n matrix of pairs, which a registry's 30,000 x 70,000 pairs would fill with 17 GB.
    # v10[i]: share of negatives below positive i; v01[j]: share of positives above negative j
    # (ties count 1/2). The AUC is their mean.
    ranks = rankdata(np.concatenate([pos, neg]))
    v10 = (ranks[:m] - rankdata(pos)) / n
    v01 = 1.0 - (ranks[m:] - rankdata(neg)) / m
    direction = "higher"
    if v10.mean() < 0.5:
        v10, v01, direction = 1.0 - v10, 1.0 - v01, "lower"
    auc = float(v10.mean())
    if m < 2 or n < 2:
        return RocAuc(auc, NAN, NAN, direction, m, n, "DeLong CI needs at least 2 positives and 2 negatives")
    se = float(np.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n))
    q = norm.ppf(0.5 + level / 2)
    return RocAuc(auc, max(0.0, auc - q * se), min(1.0, auc + q * se), direction, m, n, None)


def youden_cutoff(values, outcome) -> Cutoff:
    """Cut-off maximising Youden's J, in the direction of ``roc_auc`` (lowest one on ties)."""
    x, y = _clean(values, outcome)
    roc = roc_auc(x, y)
    if roc.direction is None:
        return Cutoff(NAN, NAN, NAN, NAN, None, roc.reason)
    # One sweep over the sorted distinct values: the midpoint after value k calls positive the
    # values above k ("higher") or up to k ("lower"); counts come from cumulative sums.
    distinct, where = np.unique(x, return_inverse=True)
    mids = (distinct[:-1] + distinct[1:]) / 2
    pos_up_to = np.cumsum(np.bincount(where[y], minlength=distinct.size))[:-1]
    neg_up_to = np.cumsum(np.bincount(where[~y], minlength=distinct.size))[:-1]
    m, n = roc.n_positive, roc.n_negative
    if roc.direction == "higher":
        sens, spec = (m - pos_up_to) / m, neg_up_to / n
    else:
        sens, spec = pos_up_to / m, (n - neg_up_to) / n
    j = sens + spec - 1
    best = int(np.flatnonzero(j >= j.max() - 1e-12)[0])  # tolerance: equal J may differ in the last bit
    return Cutoff(float(mids[best]), float(sens[best]), float(spec[best]), float(j[best]), roc.direction, None)


def median_cutoff(values) -> float:
    """Median of the non-missing values (NaN if there are none)."""
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    return float(np.median(x)) if x.size else NAN


def choose_cutoff(values, outcome, min_auc: float = 0.70, method: str = "roc") -> CutoffChoice:
    """The ROC/Youden cut-off if AUC > ``min_auc`` (accepted), else the median (not accepted).
    ``method="median"`` asks for the median whatever the AUC (which is still reported).

    For the median fallback, sensitivity, specificity and J describe the median split in
    the AUC's direction. Not estimable (empty, no events, no non-events, all values equal):
    AUC, sensitivity, specificity and J NaN (AUC 0.5 when all values are equal), the median
    as cut-off when there are values (method "median"), and a ``reason``.
    """
    x, y = _clean(values, outcome)
    n, events, median = len(x), int(y.sum()), median_cutoff(x)
    roc = roc_auc(x, y)
    auc = (roc.auc, roc.ci_lower, roc.ci_upper)
    if roc.direction is None:
        return CutoffChoice(
            "median" if n else None, median, *auc, NAN, NAN, NAN, None, False, n, events, roc.reason or "no values"
        )
    if method not in ("roc", "median"):
        raise ValueError(f"method must be 'roc' or 'median', not {method!r}")
    if method == "roc" and roc.auc > min_auc:
        cut = youden_cutoff(x, y)
        return CutoffChoice(
            "roc_youden",
            cut.cutoff,
            *auc,
            cut.sensitivity,
            cut.specificity,
            cut.youden_j,
            roc.direction,
            True,
            n,
            events,
            roc.reason,
        )
    sens, spec = _sens_spec(x, y, median, roc.direction)
    why = "median requested" if method == "median" else f"ROC AUC {roc.auc:.2f} ≤ {min_auc:.2f}: median used"
    reason = "; ".join(filter(None, [why, roc.reason]))
    return CutoffChoice("median", median, *auc, sens, spec, sens + spec - 1, roc.direction, False, n, events, reason)


def split_at(values, cutoff: float) -> pd.Series:
    """Labels "< c" / "≥ c" (c printed with ``:g``, 6 significant digits); missing stays None.

    Values equal to the cut-off go to "≥ c". The labels do not depend on the direction:
    which group is the predicted-positive one is ``CutoffChoice.direction``. The index of
    a Series input is kept.
    """
    if not np.isfinite(cutoff):
        raise ValueError("cutoff must be a finite number")
    index = values.index if isinstance(values, pd.Series) else None
    x = np.asarray(values, dtype=float).ravel()
    low, high = f"< {cutoff:g}", f"≥ {cutoff:g}"
    labels = [None if np.isnan(v) else (high if v >= cutoff else low) for v in x]
    return pd.Series(labels, index=index, dtype=object)

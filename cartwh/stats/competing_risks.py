"""Competing risks as small pure functions: the Aalen-Johansen cumulative incidence of a cause, its
variance and pointwise CI, its value at a landmark, and Gray's k-sample test.

Inputs: follow-up ``durations`` (non-negative, finite) and ``causes``, one label per subject: the
cause of its event, or None/NaN/"" when censored. Every label but the ``cause`` analysed is a
competing event.

**Estimate** (Aalen-Johansen; R ``cmprsk::cuminc``, ``survival::survfit`` on a multi-state
outcome and SAS LIFETEST agree on it): at the distinct times t_j with n_j at risk, d_j events of
any cause and d_kj of cause k, F_k(t) = sum_{t_j <= t} S(t_j-) d_kj / n_j, S the all-cause
Kaplan-Meier estimate. Ties: events at t_j precede censorings there, and tied events of different
causes all see the same S(t_j-) and n_j. lifelines' ``AalenJohansenFitter`` computes the same
estimate where no two events of different causes share a time; where they do, it moves event
times by random amounts (its "jitter"), which changes the estimate and is why it is not used
here. Its variance is the delta-method (Dinse-Larson / SAS ERROR=DELTA) one, neither R's.

**Variance**, one of two conventions (``cartwh.stats.conventions.CUMULATIVE_INCIDENCE_CONVENTIONS``),
both of the form sum_{t_j <= t} (S(t_j-)/n_j)^2 [A_j + B_j c_j(t) + C_j c_j(t)^2] with
c_j(t) = (F_k(t) - F_k(t_j)) / S(t_j) (0 once S = 0):

* ``cuminc``: Aalen's (1978) estimator as ``cmprsk::cuminc`` computes it (SAS LIFETEST's default,
  ERROR=AALEN): A = w_k d_k, B = -2 w_k d_k, C = w_k d_k + w_o d_o, with d_o the competing events
  and w = 1 - (d - 1)/(n - 1) a tie correction (1 for a single event). Pointwise CI on the
  log(-log) scale, F^exp(+-z se / (F log F)) (tidycmprsk's and SAS's CONFTYPE=LOGLOG), NaN where
  F is 0 or 1.
* ``survfit``: the infinitesimal jackknife that ``survfit`` uses for a multi-state outcome, the sum
  over subjects of the squared derivative of F_k(t) with respect to the subject's case weight;
  the cross terms between event times vanish, leaving A = d_k - d_k^2/n, B = -2 d_k + 2 d_k d/n,
  C = d - d^2/n (with one cause it is Greenwood's variance of 1 - S). Pointwise CI on the log
  scale, F exp(+-z se / F), the upper limit capped at 1 (survfit's default conf.type "log";
  the interval is (F, F) where se = 0).

Not-estimable results are NaN with a ``reason``, never an exception; invalid input (negative or
non-finite durations, lengths that differ) raises ``ValueError``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from cartwh.stats.conventions import CUMULATIVE_INCIDENCE_CONVENTIONS

NAN = float("nan")
CIF_COLUMNS = [
    "time",
    "estimate",
    "se",
    "ci_lower",
    "ci_upper",
    "at_risk",
    "events",
    "competing_events",
    "censored",
]


class IncidenceAt(NamedTuple):
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    reason: str | None = None


def _clean(durations, causes) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(durations, dtype=float).ravel()
    c = pd.Series(np.asarray(causes, dtype=object).ravel())
    if len(c) != d.size:
        raise ValueError("causes must have the same length as durations")
    if d.size and (not np.isfinite(d).all() or (d < 0).any()):
        raise ValueError("durations must be finite and non-negative")
    labels = c.where(c.notna() & (c.astype(str) != ""), None).to_numpy(dtype=object)
    return d, labels


def _counts(d: np.ndarray, labels: np.ndarray, cause) -> tuple[np.ndarray, ...]:
    """Distinct times with the number at risk, events of `cause`, competing events, censorings."""
    times, index = np.unique(d, return_inverse=True)
    exits = np.bincount(index, minlength=times.size).astype(float)
    at_risk = exits[::-1].cumsum()[::-1]
    of_cause = np.bincount(index, weights=labels == cause, minlength=times.size)
    censored = np.bincount(index, weights=pd.isna(labels).astype(float), minlength=times.size)
    return times, at_risk, of_cause, exits - of_cause - censored, censored


def _variance_terms(convention: str, n, d_k, d_o):
    if convention == "cuminc":

        def tie(x):
            return np.where(x > 1, 1 - (x - 1) / np.maximum(n - 1, 1), 1.0)

        a = tie(d_k) * d_k
        return a, -2 * a, a + tie(d_o) * d_o
    d = d_k + d_o
    return d_k - d_k**2 / n, -2 * d_k + 2 * d_k * d / n, d - d**2 / n


def _interval(estimate: np.ndarray, se: np.ndarray, convention: str, level: float):
    z = norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if convention == "cuminc":
            inner = np.where((estimate > 0) & (estimate < 1), estimate, np.nan)
            width = z * se / (inner * np.abs(np.log(inner)))
            shift = np.log(-np.log(inner))
            return np.exp(-np.exp(shift + width)), np.exp(-np.exp(shift - width))
        width = z * se / np.where(estimate > 0, estimate, np.nan)
        lower, upper = estimate * np.exp(-width), np.minimum(estimate * np.exp(width), 1.0)
    flat = se == 0
    return np.where(flat, estimate, lower), np.where(flat, estimate, upper)


def cumulative_incidence(durations, causes, cause, convention: str = "cuminc", level: float = 0.95) -> pd.DataFrame:
    """The Aalen-Johansen cumulative incidence of `cause`: one row per distinct time (events of any
    cause or censorings), plus time 0, with the estimate, its SE and pointwise CI by `convention`,
    and the counts (``at_risk``: subjects with duration >= time). ``df.attrs``: ``cause``,
    ``convention``, ``reason`` (non-None if empty)."""
    if convention not in CUMULATIVE_INCIDENCE_CONVENTIONS:
        raise ValueError(f"convention must be one of {list(CUMULATIVE_INCIDENCE_CONVENTIONS)}")
    d, labels = _clean(durations, causes)
    out = pd.DataFrame({c: pd.Series(dtype=float) for c in CIF_COLUMNS})
    out.attrs.update(cause=cause, convention=convention, reason="empty input" if d.size == 0 else None)
    if d.size == 0:
        return out
    times, n, d_k, d_o, censored = _counts(d, labels, cause)
    survival = np.cumprod(1 - (d_k + d_o) / n)
    before = np.r_[1.0, survival[:-1]]
    estimate = np.cumsum(before * d_k / n)
    a, b, c = _variance_terms(convention, n, d_k, d_o)
    weight = (before / n) ** 2
    alive = survival > 0
    u = np.where(alive, 1 / np.where(alive, survival, 1), 0.0)  # c_j(t) = F(t) u_j - v_j
    v = estimate * u
    variance = (
        np.cumsum(weight * (a - b * v + c * v * v))
        + estimate * np.cumsum(weight * (b * u - 2 * c * u * v))
        + estimate**2 * np.cumsum(weight * c * u * u)
    )
    se = np.sqrt(np.maximum(variance, 0.0))  # rounding can leave -1e-17 where the variance is 0
    lower, upper = _interval(estimate, se, convention, level)
    table = pd.DataFrame(
        dict(
            time=times,
            estimate=estimate,
            se=se,
            ci_lower=lower,
            ci_upper=upper,
            at_risk=n,
            events=d_k,
            competing_events=d_o,
            censored=censored,
        )
    )
    if times[0] > 0:
        start = dict(time=0.0, estimate=0.0, se=0.0, ci_lower=NAN, ci_upper=NAN, at_risk=float(d.size))
        table = pd.concat([pd.DataFrame([start | dict(events=0.0, competing_events=0.0, censored=0.0)]), table])
    table = table.reset_index(drop=True).astype({c: int for c in ("at_risk", "events", "competing_events", "censored")})
    table.attrs.update(out.attrs)
    return table


def incidence_at(table: pd.DataFrame, t: float) -> IncidenceAt:
    """F(t) (right-continuous) with its SE and CI from a ``cumulative_incidence`` table; NaN with a
    reason when the table is empty or `t` lies beyond the last follow-up time (unless every
    subject had left by an event: F is then known to stay where it is)."""
    if table.empty:
        return IncidenceAt(NAN, NAN, NAN, NAN, "empty input")
    if not np.isfinite(t) or t < 0:
        return IncidenceAt(NAN, NAN, NAN, NAN, f"t={t:g} is not a time after the origin")
    last = table.iloc[-1]
    if t > last["time"] and last["censored"] > 0:
        return IncidenceAt(NAN, NAN, NAN, NAN, f"t={t:g} is beyond the last follow-up time {last['time']:g}")
    row = table[table["time"] <= t].iloc[-1]
    return IncidenceAt(float(row["estimate"]), float(row["se"]), float(row["ci_lower"]), float(row["ci_upper"]))


def gray_test(durations, causes, groups, cause, rho: float = 0.0) -> dict:
    """Gray's (1988) test that the cumulative incidence of `cause` is the same in every group:
    the k-sample test ``cmprsk::cuminc`` prints, with weight (1 - F(t-))^rho on the pooled
    subdistribution hazard (rho = 0, cuminc's default, is the log-rank-like test), chi-square on
    k - 1 df. Returns dict(statistic, df, p_value, test, n_groups, reason)."""
    d, labels = _clean(durations, causes)
    g = pd.Series(np.asarray(groups, dtype=object).ravel())
    if len(g) != d.size:
        raise ValueError("groups must have the same length as durations")
    if g.isna().any():
        raise ValueError("group labels must not be missing")
    order = sorted(pd.unique(g), key=str)
    k = len(order)
    res = dict(statistic=NAN, df=max(k - 1, 0), p_value=NAN, test="Gray's test", n_groups=k, reason=None)
    if k < 2:
        return res | dict(reason="fewer than two non-empty groups: nothing to compare")
    if not (labels == cause).any():
        return res | dict(reason=f"no {cause} events in any group: test undefined")
    score, variance = _gray_score(d, labels, g.map({x: i for i, x in enumerate(order)}).to_numpy(), k, cause, rho)
    try:
        statistic = float(score[:-1] @ np.linalg.solve(variance[:-1, :-1], score[:-1]))
    except np.linalg.LinAlgError:
        return res | dict(reason="singular variance: the groups are never at risk together at an event")
    if not np.isfinite(statistic):
        return res | dict(reason="singular variance: the groups are never at risk together at an event")
    return res | dict(statistic=statistic, p_value=float(chi2.sf(statistic, k - 1)))


def _gray_score(d, labels, group, k, cause, rho):
    """Gray's score per group and its covariance (Gray 1988, section 2; cmprsk's crstm). Per
    distinct time, with group arrays: R_g at risk, S_g(t-) the group's all-cause Kaplan-Meier,
    F_g(t-) its cumulative incidence, h_g = R_g / S_g(t-) (its risk set rescaled), and the
    pooled incidence F(t) = F(t-) + d_1 / sum h."""
    times, index = np.unique(d, return_inverse=True)
    shape = (times.size, k)

    def count(mask):
        out = np.zeros(shape)
        np.add.at(out, (index[mask], group[mask]), 1.0)
        return out

    d1, d2 = count(labels == cause), count(~pd.isna(labels) & (labels != cause))
    exits = np.zeros(shape)
    np.add.at(exits, (index, group), 1.0)
    at_risk = exits[::-1].cumsum(axis=0)[::-1]
    surv, incidence, pooled = np.ones(k), np.zeros(k), 0.0
    score, v, v2, v3, c = np.zeros(k), np.zeros((k, k)), np.zeros((k, k)), np.zeros(k), np.zeros((k, k))
    for j in np.flatnonzero((d1 + d2).sum(axis=1) > 0):
        r, e1, e2 = at_risk[j], d1[j], d2[j]
        live = r > 0
        safe_r, safe_s = np.where(live, r, 1.0), np.where(live, surv, 1.0)
        h = np.where(live, r / safe_s, 0.0)
        total_h, n1 = h.sum(), e1.sum()
        subdistribution = np.where(live, r * (1 - incidence) / safe_s, 0.0)
        surv_now = np.where(live, surv * (r - e1 - e2) / safe_r, surv)
        pooled_now = pooled + n1 / total_h
        weight = (1 - pooled) ** rho
        a = weight * (np.diag(h) - np.outer(h, h) / total_h)
        c += a * n1 / (total_h * (1 - pooled))
        score += weight * (e1 - n1 * subdistribution / subdistribution.sum())
        if n1 > 0:
            t4 = np.where(surv_now > 0, 1 - (1 - pooled_now) / np.where(surv_now > 0, surv_now, 1.0), 1.0)
            ties = 1 - (n1 - 1) / (total_h * surv - 1) if n1 > 1 else 1.0
            t3 = np.where(live, ties * surv * n1 / (total_h * safe_r), 0.0)
            b = a - c * t4
            v3 += t4 * t4 * t3
            v2 += b * t4 * t3
            v += (b * t3) @ b.T
        if e2.sum() > 0:
            ok = (surv_now > 0) & (e2 > 0)
            t4 = np.where(ok, (1 - pooled_now) / np.where(surv_now > 0, surv_now, 1.0), 0.0)
            ties = np.where(e2 > 1, 1 - (e2 - 1) / np.maximum(r - 1, 1), 1.0)
            t3 = np.where(ok, ties * surv**2 * e2 / safe_r**2, 0.0)
            b = c * t4
            v3 += t4 * t4 * t3
            v2 -= b * t4 * t3
            v += (b * t3) @ b.T
        surv, pooled = surv_now, pooled_now
        incidence = np.where(live, incidence + (safe_s * e1) / safe_r, incidence)
    return score, v + (c * v3) @ c.T + c @ v2.T + v2 @ c.T

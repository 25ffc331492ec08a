"""Kaplan-Meier survival statistics as small pure functions.

Inputs are follow-up ``durations`` (months, or any unit; non-negative, finite) and an
``events`` indicator (1 = event observed, 0 = censored; ``None`` means all events),
plus optional group labels for the log-rank test.

Conventions (the ones of R ``survival`` and SPSS, and of lifelines):

* Ties: at a time where events and censorings coincide, the censored subjects are
  counted in the risk set at that time (events are taken to happen first).
* 95 % confidence intervals of S(t) use the log-log transform ("exponential
  Greenwood"), i.e. R ``survfit(..., conf.type = "log-log")`` and SPSS::

      V(t)   = sum_{t_j <= t} d_j / (n_j (n_j - d_j))          (Greenwood, Var log S)
      CI(t)  = S(t) ** exp(+- z * sqrt(V(t)) / log S(t))

  This is exactly what lifelines' ``KaplanMeierFitter`` computes by default
  (``KaplanMeierFitter._bounds``, lifelines 0.30: ``exp(-exp(log(-log S) -+ z *
  sqrt(V) / log S))``, algebraically the same expression); the tests check it against
  a hand computation. Where S(t) = 0 the interval is reported as NaN (as R does).
* Quantiles (the median is p = 0.5): S(t) is compared with the level with R's tolerance
  (``quantile.survfit``: ``tolerance = sqrt(.Machine$double.eps)``), so a product-limit S
  that is 1/2 in exact arithmetic but 0.5000000000000001 in floating point counts as 1/2.
  Two conventions, named in every output row (``cartwh.stats.conventions``):
  ``spss``  the first time S(t) <= level (SPSS KM; SAS calls it the smallest such time);
  ``r``     the same, except where S(t) equals the level over a flat stretch: the midpoint
            of that stretch, from the time S reached the level to its next drop (or to the
            last follow-up time if it never drops), as R ``quantile.survfit`` does.
  The 95 % CI of a quantile is either the band inversion (``band``: where the pointwise
  log-log band crosses the level, same rule and tolerance; R's ``quantile.survfit``,
  Brookmeyer-Crowley) or quantile +- 1.96 SE (``se``: SPSS's symmetric interval). The SE
  is Collett's (Modelling Survival Data in Medical Research, section 2.4; it reproduces the
  SE SPSS prints for the Freireich 6-MP data): SE(t_p) = SE[S(t_p)] / f(t_p), Greenwood SE of S at t_p over the density
  estimate f = (S(u) - S(l)) / (l - u), u the latest event time with S >= level + 0.05,
  l the earliest with S <= level - 0.05. Where S = 0 the band is undefined (R: NA), so a
  band limit is never reached there; a symmetric lower limit below 0 is truncated at 0.

Not-estimable results are NaN together with a ``reason`` string, never an exception.
Invalid input (negative / non-finite durations, events not 0/1, length mismatch)
raises ``ValueError``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test

from cartwh.stats.conventions import QUANTILE_CI_METHODS, QUANTILE_CONVENTIONS

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)
NAN = float("nan")
TOLERANCE = float(np.sqrt(np.finfo(float).eps))  # R quantile.survfit's default, about 1.5e-8
DENSITY_SPAN = 0.05  # Collett's epsilon for the density estimate at a quantile
KM_COLUMNS = ["time", "survival", "ci_lower", "ci_upper", "at_risk", "events", "censored"]


class SurvivalAt(NamedTuple):
    estimate: float
    ci_lower: float
    ci_upper: float
    reason: str | None = None


class Median(NamedTuple):
    """A KM quantile (the median unless said otherwise) with the 95 % CI of ``ci_method``;
    both intervals are kept (``band_ci``, ``se_ci``) so either can be reported."""

    median: float
    ci_lower: float
    ci_upper: float
    reason: str | None = None
    se: float = NAN
    band_ci: tuple[float, float] = (NAN, NAN)
    se_ci: tuple[float, float] = (NAN, NAN)
    convention: str = "spss"
    ci_method: str = "band"


class KMMean(NamedTuple):
    mean: float
    se: float
    ci_lower: float
    ci_upper: float
    upper_limit: float = NAN  # the time the area was integrated up to
    reason: str | None = None


class RMST(NamedTuple):
    rmst: float
    se: float
    reason: str | None = None


def _clean(durations, events=None) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(durations, dtype=float).ravel()
    e = np.ones_like(d) if events is None else np.asarray(events, dtype=float).ravel()
    if d.shape != e.shape:
        raise ValueError(f"durations ({d.size}) and events ({e.size}) differ in length")
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ValueError("durations must be finite and non-negative")
    if not np.all(np.isin(e, (0.0, 1.0))):
        raise ValueError("events must be 0 (censored) or 1 (event)")
    return d, e.astype(int)


def kaplan_meier(durations, events=None, label: str = "KM") -> pd.DataFrame:
    """Kaplan-Meier table: one row per distinct time, plus time 0.

    Columns: time, survival, ci_lower, ci_upper (95 %, log-log), at_risk, events,
    censored. ``at_risk`` counts subjects with duration >= time (censored-at-time
    included). ``df.attrs`` holds ``label`` and ``reason`` (non-None if empty).
    """
    d, e = _clean(durations, events)
    if d.size == 0:
        out = pd.DataFrame({c: pd.Series(dtype=float) for c in KM_COLUMNS})
        out.attrs.update(label=label, reason="empty input")
        return out
    kmf = KaplanMeierFitter(alpha=0.05).fit(d, e, label=label)
    et = kmf.event_table
    ci = kmf.confidence_interval_survival_function_
    out = pd.DataFrame(
        {
            "time": et.index.to_numpy(dtype=float),
            "survival": kmf.survival_function_[label].to_numpy(dtype=float),
            "ci_lower": ci.iloc[:, 0].to_numpy(dtype=float),
            "ci_upper": ci.iloc[:, 1].to_numpy(dtype=float),
            "at_risk": et["at_risk"].to_numpy(dtype=int),
            "events": et["observed"].to_numpy(dtype=int),
            "censored": et["censored"].to_numpy(dtype=int),
        }
    )
    zero = out["survival"] <= 0
    out.loc[zero, ["ci_lower", "ci_upper"]] = NAN  # no variance once S = 0 (R: NA)
    out.attrs.update(label=label, reason=None)
    return out


def survival_at(durations, events, t: float) -> SurvivalAt:
    """S(t) (right-continuous step value at ``t``) with its 95 % log-log CI.

    NaN with a reason if the input is empty or ``t`` lies beyond the last follow-up
    time while S > 0 (no one left at risk, the curve is undefined there). If the curve
    has reached 0, S(t) = 0 for all later t (CI NaN).
    """
    km = kaplan_meier(durations, events)
    if km.empty:
        return SurvivalAt(NAN, NAN, NAN, "empty input")
    if not np.isfinite(t):
        return SurvivalAt(NAN, NAN, NAN, "t must be finite")
    last = km.iloc[-1]
    if t > last["time"] and last["survival"] > 0:
        return SurvivalAt(
            NAN,
            NAN,
            NAN,
            f"t={t:g} is beyond the last follow-up time {last['time']:g} with S>0; nobody at risk",
        )
    if t < 0:
        return SurvivalAt(1.0, 1.0, 1.0, None)
    row = km[km["time"] <= t].iloc[-1]
    return SurvivalAt(float(row["survival"]), float(row["ci_lower"]), float(row["ci_upper"]), None)


def _quantile_time(times: np.ndarray, curve: np.ndarray, level: float, convention: str) -> float:
    """Where the right-continuous step ``curve`` (values at ``times``) first reaches ``level``,
    by ``convention`` (module docstring); NaN if it never does. NaN values (a band where
    S = 0) are skipped, as R's ``approx`` drops them."""
    known = ~np.isnan(curve)
    t, y = times[known], curve[known]
    reached = np.flatnonzero(y <= level + TOLERANCE)
    if not reached.size:
        return NAN
    first = reached[0]
    if convention == "spss" or abs(y[first] - level) >= TOLERANCE:
        return float(t[first])
    below = np.flatnonzero(y <= level - TOLERANCE)
    if below.size:
        return float((t[first] + t[below[0]]) / 2)
    # The curve ends on the flat: R takes the midpoint with the last time of the curve, unless
    # that last point has no value (NA band), where its midpoint is NA too.
    return float((t[first] + times[-1]) / 2) if known[-1] else NAN


def _quantile_se(km: pd.DataFrame, at: float, level: float) -> float:
    """Collett's SE of a KM quantile ``at`` (module docstring); NaN where the density
    estimate is not defined (no event time as far as 0.05 below the level)."""
    events = km[(km["events"] > 0) | (km["time"] == 0)]
    t, s = events["time"].to_numpy(), events["survival"].to_numpy()
    above = np.flatnonzero(s >= level + DENSITY_SPAN - TOLERANCE)
    below = np.flatnonzero(s <= level - DENSITY_SPAN + TOLERANCE)
    if not (above.size and below.size):
        return NAN
    u, lo = above[-1], below[0]
    density = (s[u] - s[lo]) / (t[lo] - t[u])
    row = km[km["time"] <= at].iloc[-1]
    n, d = km["at_risk"].to_numpy(float), km["events"].to_numpy(float)
    upto = (km["time"].to_numpy() <= at) & (d > 0) & (n > d)
    se_s = float(row["survival"]) * float(np.sqrt(np.sum(d[upto] / (n[upto] * (n[upto] - d[upto])))))
    return se_s / density if density > 0 else NAN


def _truncated_at_zero(lower: float) -> float:
    """A lower limit of a time below 0 is 0 (a NaN stays NaN: not estimable)."""
    return 0.0 if lower < 0 else lower


def km_quantile(durations, events=None, p: float = 0.5, convention: str = "spss", ci_method: str = "band") -> Median:
    """The time by which a share ``p`` of subjects had the event (S(t) = 1 - p): median for
    p = 0.5. Both 95 % CIs are computed; ``ci_lower``/``ci_upper`` are the ``ci_method``
    one. A limit that is never reached is NaN (R prints NA). If S never reaches 1 - p
    (e.g. all censored) the quantile is NaN with a reason."""
    if convention not in QUANTILE_CONVENTIONS or ci_method not in QUANTILE_CI_METHODS:
        raise ValueError(
            f"convention must be one of {list(QUANTILE_CONVENTIONS)}, ci_method one of {list(QUANTILE_CI_METHODS)}"
        )
    if not 0 < p < 1:
        raise ValueError(f"p must lie strictly between 0 and 1, not {p}")
    level = 1.0 - p
    km = kaplan_meier(durations, events)
    if km.empty:
        return Median(NAN, NAN, NAN, "empty input", convention=convention, ci_method=ci_method)
    t = km["time"].to_numpy()
    s = km["survival"].to_numpy()
    quantile = _quantile_time(t, s, level, convention)
    band = tuple(_quantile_time(t, km[c].to_numpy(), level, convention) for c in ("ci_lower", "ci_upper"))
    reason, se, symmetric = None, NAN, (NAN, NAN)
    if np.isnan(quantile):
        reason = (
            "all observations censored: survival stays 1, no median"
            if km["events"].sum() == 0
            else f"survival never reaches {level:g} (minimum {s.min():.3g})"
        )
    else:
        se = _quantile_se(km, quantile, level)
        symmetric = (_truncated_at_zero(quantile - Z95 * se), quantile + Z95 * se)
    chosen = band if ci_method == "band" else symmetric
    return Median(quantile, *chosen, reason, se, band, symmetric, convention, ci_method)


def km_median(durations, events=None, convention: str = "spss", ci_method: str = "band") -> Median:
    """Median survival time and its 95 % CI (``km_quantile`` with p = 0.5)."""
    return km_quantile(durations, events, 0.5, convention, ci_method)


def median_follow_up(durations, events, convention: str = "spss", ci_method: str = "band") -> Median:
    """Median follow-up by the reverse Kaplan-Meier method (Schemper & Smith 1996).

    Censoring is treated as the event and events as censoring; the median of that
    "time to censoring" curve, with both 95 % CIs (SPSS prints median +- 1.96 SE), is
    returned.
    """
    d, e = _clean(durations, events)
    if d.size == 0:
        return Median(NAN, NAN, NAN, "empty input", convention=convention, ci_method=ci_method)
    res = km_median(d, 1 - e, convention, ci_method)
    if res.reason is not None and (1 - e).sum() == 0:
        res = res._replace(reason="no censored observations: reverse KM has no events, follow-up median undefined")
    return res


def _area_and_se(km: pd.DataFrame, upper: float) -> tuple[float, float]:
    """Area under the KM step curve on [0, upper] and its standard error.

    Var = sum over event times t_j <= upper of A_j**2 * d_j / (n_j (n_j - d_j)),
    A_j = area under the curve from t_j to ``upper`` (Klein & Moeschberger eq. 4.5.2,
    the formula SPSS and R ``print.survfit(rmean=)`` use, without the n/(n-1) factor).
    """
    km = km[km["time"] <= upper]
    t = km["time"].to_numpy()
    s = km["survival"].to_numpy()
    widths = np.diff(np.append(t, upper))
    pieces = s * widths
    area = float(pieces.sum())
    tail = np.cumsum(pieces[::-1])[::-1]  # A_j: area from t_j (S after the drop) to upper
    n = km["at_risk"].to_numpy(dtype=float)
    dd = km["events"].to_numpy(dtype=float)
    ok = (dd > 0) & (n > dd)  # n == d only when S drops to 0, then A_j = 0 anyway
    var = float(np.sum(tail[ok] ** 2 * dd[ok] / (n[ok] * (n[ok] - dd[ok]))))
    return area, float(np.sqrt(var))


def km_mean(durations, events=None) -> KMMean:
    """SPSS-style Kaplan-Meier mean: area under the KM curve up to the largest observed
    time (event or censored), its SE (see ``_area_and_se``) and mean +- 1.96 SE, the lower
    limit truncated at 0 (a survival time cannot be negative; SPSS would print it).

    If the largest time is censored the mean is restricted to it (underestimates the
    true mean); ``upper_limit`` reports that time.
    """
    km = kaplan_meier(durations, events)
    if km.empty:
        return KMMean(NAN, NAN, NAN, NAN, NAN, "empty input")
    upper = float(km["time"].iloc[-1])
    area, se = _area_and_se(km, upper)
    reason = None
    if km["events"].sum() == 0:
        reason = "all observations censored: mean equals the largest follow-up time, SE 0"
    return KMMean(area, se, _truncated_at_zero(area - Z95 * se), area + Z95 * se, upper, reason)


def rmst(durations, events, tau: float) -> RMST:
    """Restricted mean survival time up to ``tau`` and its standard error.

    The area under the KM step function on [0, tau], summed exactly over its steps (not
    lifelines' ``restricted_mean_survival_time``, which integrates numerically and warns
    on step functions, and whose ``return_variance`` is the variance of the restricted
    survival *time*, about n times the variance of the estimate). The SE is the
    Greenwood-type formula of ``_area_and_se``. NaN with reason if tau is beyond the last
    follow-up time with S > 0.
    """
    d, e = _clean(durations, events)
    if d.size == 0:
        return RMST(NAN, NAN, "empty input")
    if not (np.isfinite(tau) and tau > 0):
        return RMST(NAN, NAN, "tau must be a positive finite number")
    km = kaplan_meier(d, e)
    last = km.iloc[-1]
    if tau > last["time"] and last["survival"] > 0:
        return RMST(NAN, NAN, f"tau={tau:g} beyond last follow-up {last['time']:g} with S>0")
    area, se = _area_and_se(km, tau)
    return RMST(area, se, None)


def logrank(durations, events, groups) -> dict:
    """Log-rank test of equal survival across groups.

    Two groups: lifelines ``logrank_test``; three or more: ``multivariate_logrank_test``
    (chi-square with k-1 df). Returns dict(statistic, df, p_value, test, n_groups,
    reason, note). Fewer than two non-empty groups, no events at all, or a zero
    variance give NaN with a ``reason``. A group with no events (while others have
    some) is a valid, computable test (as R ``survdiff``); it is flagged in ``note``.
    """
    d, e = _clean(durations, events)
    g = pd.Series(np.asarray(groups, dtype=object).ravel())
    if len(g) != d.size:
        raise ValueError("groups must have the same length as durations")
    if g.isna().any():
        raise ValueError("group labels must not be missing")
    labels = list(pd.unique(g))  # only labels that occur: empty groups drop out
    k = len(labels)
    res = dict(
        statistic=NAN,
        df=max(k - 1, 0),
        p_value=NAN,
        test="log-rank" if k <= 2 else "k-group log-rank",
        n_groups=k,
        reason=None,
        note=None,
    )
    if d.size == 0:
        return res | dict(reason="empty input")
    if k < 2:
        return res | dict(reason="fewer than two non-empty groups: nothing to compare")
    if e.sum() == 0:
        return res | dict(reason="no events in any group: test undefined")
    # Groups are at risk together at some event time iff two groups last until the first one
    # (those at risk only shrink over time).
    last_time = pd.Series(d).groupby(g.to_numpy()).max()
    if (last_time >= d[e == 1].min()).sum() < 2:
        return res | dict(reason="zero variance: groups are never at risk together at an event time")
    no_ev = [lab for lab in labels if e[(g == lab).to_numpy()].sum() == 0]
    if no_ev:
        res["note"] = f"group(s) with no events: {no_ev}"
    try:
        if k == 2:
            a, b = ((g == lab).to_numpy() for lab in labels)
            r = logrank_test(d[a], d[b], event_observed_A=e[a], event_observed_B=e[b])
        else:
            r = multivariate_logrank_test(d, g.to_numpy(), event_observed=e)
        stat, p = float(r.test_statistic), float(r.p_value)
    except (np.linalg.LinAlgError, ZeroDivisionError, ValueError) as exc:
        return res | dict(reason=f"test not computable: {exc}")
    if not (np.isfinite(stat) and np.isfinite(p)):
        return res | dict(reason="zero variance (groups never at risk together at event times)")
    return res | dict(statistic=stat, p_value=p)

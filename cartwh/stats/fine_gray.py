"""Fine-Gray proportional subdistribution-hazards regression, with R ``cmprsk::crr``'s definitions
(Fine & Gray, JASA 1999), as one pure function, ``fine_gray``.

The model: the hazard of the subdistribution of one cause, lambda_1(t | x) = lambda_10(t)
exp(x'beta). Its risk set at a time t of a cause-1 event holds everyone still event-free, and
everyone who had a competing event before t, weighted by G(t-)/G(T_i-), where G is the
Kaplan-Meier estimate of the censoring distribution (censoring as the event; any event censors
it) and G(u-) its value just before u, as ``crr`` evaluates it.

* Estimate: maximum of the weighted log partial likelihood with **Breslow** ties, by Newton's
  method with step halving (``crr``'s), to |step| < 1e-10.
* Standard errors: ``crr``'s robust sandwich, Omega^-1 [sum_i (eta_i + psi_i)^{x2}] Omega^-1,
  with Omega the information, eta_i each subject's score residual and psi_i the term for the
  estimated censoring weights (Fine & Gray's eq. in section 3; no ``cengroup``: one censoring
  distribution). Wald CIs and p-values, exp(coef) the subdistribution hazard ratio.
* ``likelihood_ratio_*``: ``crr``'s "pseudo likelihood ratio test", 2 (l(beta) - l(0)) on p df.

Every sum over the weighted risk sets is a cumulative sum over the subjects sorted by time
(the competing ones before t enter through G(t-) times a running sum of exp(x'beta)/G(T_i-)), so
the fit and its variance take a few array passes, not a loop over subjects.

Factor coding, dropped rows, the structural problems and the not-estimable rows are those of
``cartwh.stats.cox``; a level without an event of the cause (or a runaway estimate) makes the
model not estimable: there is no penalised Fine-Gray estimate here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from cartwh.stats.cox import COLUMNS as COX_COLUMNS
from cartwh.stats.cox import MAX_COEF, MAX_SE, term_rows
from cartwh.stats.design import complete_cases, design_matrix

COLUMNS = [c for c in COX_COLUMNS if not c.startswith("score_") and c != "concordance"]
COLUMNS.insert(COLUMNS.index("n_dropped_missing"), "competing_events")
MAX_ITERATIONS = 100
TOLERANCE = 1e-10


def censoring_left_limits(times: np.ndarray, censored: np.ndarray) -> np.ndarray:
    """G(t-) at each of `times` (sorted), G the Kaplan-Meier estimate of the censoring distribution."""
    distinct, start = np.unique(times, return_index=True)
    at_risk = len(times) - start
    drops = np.add.reduceat(censored.astype(float), start)
    left = np.r_[1.0, np.cumprod(1 - drops / at_risk)[:-1]]
    return left[np.searchsorted(distinct, times)]


class _Data:
    """Sorted data and what does not depend on beta: the weights and where each time falls."""

    def __init__(self, X: np.ndarray, t: np.ndarray, status: np.ndarray):
        order = np.argsort(t, kind="stable")
        self.X, self.t, status = X[order], t[order], status[order]
        self.event, self.competing = status == 1, status == 2
        self.censored = status == 0
        self.g = censoring_left_limits(self.t, self.censored)  # G(T_i-)
        self.times, first = np.unique(self.t[self.event], return_index=True)
        self.deaths = np.bincount(np.searchsorted(self.times, self.t[self.event]), minlength=len(self.times))
        self.g_at = self.g[self.event][first]  # G(s-) at each event time s
        self.from_ = np.searchsorted(self.t, self.times, side="left")  # subjects with T >= s start here
        self.x_dead = self.X[self.event].sum(axis=0)


def _sums(d: _Data, risk: np.ndarray):
    """S0, S1, S2 over the weighted risk set of every event time."""
    x = d.X
    powers = [risk, risk[:, None] * x, risk[:, None, None] * x[:, :, None] * x[:, None, :]]
    out = []
    for s in powers:
        remaining = np.concatenate([np.cumsum(s[::-1], axis=0)[::-1], np.zeros((1, *s.shape[1:]))])[d.from_]
        weighted = s * (d.competing / d.g).reshape((-1,) + (1,) * (s.ndim - 1))
        before = np.concatenate([np.zeros((1, *s.shape[1:])), np.cumsum(weighted, axis=0)])[d.from_]
        out.append(remaining + d.g_at.reshape((-1,) + (1,) * (s.ndim - 1)) * before)
    return out


def _likelihood(d: _Data, beta: np.ndarray):
    s0, s1, s2 = _sums(d, np.exp(d.X @ beta))
    mean = s1 / s0[:, None]
    loglik = float(d.x_dead @ beta - d.deaths @ np.log(s0))
    information = np.einsum("t,tjk->jk", d.deaths, s2 / s0[:, None, None] - mean[:, :, None] * mean[:, None, :])
    return loglik, d.x_dead - d.deaths @ mean, information, s0, mean


def _maximise(d: _Data, p: int) -> np.ndarray:
    beta = np.zeros(p)
    loglik, score, information, *_ = _likelihood(d, beta)
    for _ in range(MAX_ITERATIONS):
        step = np.linalg.solve(information, score)
        for _ in range(30):
            candidate = _likelihood(d, beta + step)
            if candidate[0] >= loglik - 1e-12:
                break
            step = step / 2
        beta = beta + step
        loglik, score, information = candidate[:3]
        if np.abs(step).max() < TOLERANCE:
            break
    return beta


def _sandwich(d: _Data, beta: np.ndarray) -> np.ndarray:
    """crr's robust covariance: Omega^-1 sum_i (eta_i + psi_i)(eta_i + psi_i)' Omega^-1."""
    _, _, information, s0, mean = _likelihood(d, beta)
    x, risk = d.X, np.exp(d.X @ beta)
    step = d.deaths / s0  # d Lambda_10 at each event time
    # eta: the score residual, dN_i(x_i - mean) minus the compensator over the times i is at risk
    below = np.searchsorted(d.times, d.t, side="right")  # event times <= T_i
    c0, c1 = np.r_[0.0, np.cumsum(step)], np.vstack([np.zeros(len(beta)), np.cumsum(step[:, None] * mean, axis=0)])
    eta = -risk[:, None] * (x * c0[below, None] - c1[below])
    eta[d.event] += x[d.event] - mean[np.searchsorted(d.times, d.t[d.event])]
    later = d.g_at * step  # competing subjects stay at risk after T_i with weight G(s-)/G(T_i-)
    e0 = np.r_[np.cumsum(later[::-1])[::-1], 0.0]
    e1 = np.vstack([np.cumsum((later[:, None] * mean)[::-1], axis=0)[::-1], np.zeros(len(beta))])
    comp = d.competing
    eta[comp] -= (risk[comp] / d.g[comp])[:, None] * (x[comp] * e0[below[comp], None] - e1[below[comp]])
    # psi: the censoring weights' term, int q(u)/pi(u) dM^c_i(u), at the times u someone is censored
    distinct, start = np.unique(d.t, return_index=True)
    at_risk = len(d.t) - start
    censored_at = np.add.reduceat(d.censored.astype(float), start)
    weighted = risk * comp / d.g  # running sums over the competing subjects with T < u
    b0 = np.r_[0.0, np.cumsum(weighted)][start]
    b1 = np.vstack([np.zeros(len(beta)), np.cumsum(weighted[:, None] * x, axis=0)])[start]
    first_event = np.searchsorted(d.times, distinct, side="left")  # event times >= u
    q = b1 * e0[first_event, None] - b0[:, None] * e1[first_event]
    compensator = np.cumsum(-q * (censored_at / at_risk**2)[:, None], axis=0)
    where = np.searchsorted(distinct, d.t)
    psi = compensator[where] + (d.censored / at_risk[where])[:, None] * q[where]
    influence = eta + psi
    inverse = np.linalg.inv(information)
    return inverse @ (influence.T @ influence) @ inverse


def fine_gray(
    data: pd.DataFrame,
    duration: str,
    cause_column: str,
    cause: str,
    factors: list[str],
    reference: dict[str, str] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Fine-Gray model of the cumulative incidence of `cause` (values of `cause_column`; every
    other non-missing value is a competing event, a missing one a censoring) on `factors`; one
    row per term. Columns: ``COLUMNS``; see the module docstring."""
    if not 0 < level < 1:
        raise ValueError("level must lie strictly between 0 and 1")
    causes = data[cause_column].astype(object).where(data[cause_column].notna(), "")
    df, dropped = complete_cases(data.assign(**{cause_column: causes}), duration, cause_column, factors)
    status = np.select([df[cause_column] == cause, df[cause_column] != ""], [1, 2], 0)
    design = design_matrix(df, pd.Series(status == 1, index=df.index), factors, reference or {})
    n, n_events, n_competing = len(df), int((status == 1).sum()), int((status == 2).sum())
    out = term_rows(
        design, "fine_gray", COLUMNS, n=n, events=n_events, competing_events=n_competing, n_dropped_missing=dropped
    )
    if n == 0 or n_events == 0:
        return out.assign(reason=f"no {cause} events: subdistribution hazard ratios undefined")
    if design.problems:
        return out.assign(reason="; ".join(design.problems))
    if n_events < len(design.terms):
        return out.assign(reason=f"fewer {cause} events ({n_events}) than terms ({len(design.terms)})")
    d = _Data(design.X.to_numpy(float), df[duration].to_numpy(float), status)
    try:
        beta = _maximise(d, len(design.terms))
        se = np.sqrt(np.diag(_sandwich(d, beta)))
    except np.linalg.LinAlgError:
        return out.assign(reason="collinear factors: the information matrix is singular")
    scale = np.array([term.scale for term in design.terms])
    if (~np.isfinite(beta * se) | (np.abs(beta) > MAX_COEF) | (se > MAX_SE)).any():
        return out.assign(reason="monotone likelihood (separation) suspected: a runaway estimate")
    coef, se = beta / scale, se / scale
    q = norm.ppf(0.5 + level / 2)
    lr = max(2 * (_likelihood(d, beta)[0] - _likelihood(d, np.zeros(len(beta)))[0]), 0.0)
    out["coef"], out["se"], out["hazard_ratio"] = coef, se, np.exp(coef)
    out["ci_lower"], out["ci_upper"] = np.exp(coef - q * se), np.exp(coef + q * se)
    out["z"] = coef / se
    out["p_value"] = 2 * norm.sf(np.abs(out["z"]))
    df_ = len(design.terms)
    return out.assign(
        likelihood_ratio_statistic=lr, likelihood_ratio_df=df_, likelihood_ratio_p=chi2.sf(lr, df_), reason=None
    )

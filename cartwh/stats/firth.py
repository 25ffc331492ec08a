"""Firth's penalised partial likelihood for the Cox model, with R ``coxphf``'s definitions (Heinze &
Schemper, Biometrics 2001; coxphf 1.13's defaults, ``pl = TRUE``), written out:

* Penalised log likelihood l*(beta) = l(beta) + 1/2 log det I(beta), with l the **Breslow** log
  partial likelihood (coxphf's tie handling) and I its information matrix. Its maximum exists
  even when the ordinary one does not (monotone likelihood, "separation").
* Estimate: Newton-Raphson on the modified score U*(beta) = U(beta) + 1/2 tr(I^-1 dI/dbeta_j),
  with I as the Newton matrix, each step at most 0.5 per coefficient and halved while l* falls
  (coxphf's maxstep and step halving); we iterate to |step| < 1e-10 (coxphf stops at 1e-6, so
  its printed estimates can differ from ours in the 6th-7th digit).
* Standard errors: sqrt of diag I(beta*)^-1 (the unpenalised information at the estimate).
* Per coefficient: the **penalised likelihood-ratio** test, chi-square 2 (l*(beta*) - l*_0) on 1 df
  with l*_0 the maximum of l* with that coefficient fixed at 0, and the **profile penalised
  likelihood** 1 - alpha CI, the coefficient values where 2 (l*(beta*) - profile) equals the
  chi-square quantile (a limit beyond |beta| = 50 is reported as infinite).
* Model: the penalised likelihood-ratio test 2 (l*(beta*) - l*(0)) on p df (coxphf's
  "Likelihood ratio test").

Fits on the design matrix it is given; `cartwh.stats.cox` builds it (and standardises numeric
factors, which Firth's estimate follows exactly: the Jeffreys penalty is invariant).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import brentq
from scipy.stats import chi2

from cartwh.stats.partial_likelihood import breslow

MAX_STEP = 0.5  # coxphf's maxstep: the largest change of a coefficient in one iteration
MAX_ITERATIONS = 200
TOLERANCE = 1e-10
LIMIT = 50.0  # a profile CI limit beyond |beta| = 50 (a hazard ratio beyond e^50) is infinite


class FirthFit(NamedTuple):
    coef: np.ndarray
    se: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    chisq: np.ndarray  # penalised likelihood-ratio statistic per coefficient (1 df)
    p_value: np.ndarray
    lr_statistic: float  # the model's penalised likelihood-ratio test, p df
    lr_df: int
    lr_p: float
    penalised_loglik: float


class NotConverged(ArithmeticError):
    """Newton's method found no maximum of the penalised likelihood (a singular information)."""


def _penalised(X, durations, events, beta):
    fit = breslow(X, durations, events, beta, third=True)
    inverse = np.linalg.inv(fit.information)
    sign, logdet = np.linalg.slogdet(fit.information)
    if sign <= 0:
        raise NotConverged("the information matrix is singular")
    modified = fit.score + 0.5 * np.einsum("kj,jkl->l", inverse, fit.information_derivative)
    return fit.loglik + 0.5 * logdet, modified, fit.information


def maximise(X, durations, events, fixed: dict[int, float] | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """The penalised estimate with the coefficients in `fixed` held at their values: beta, l*(beta)
    and the information there."""
    p = X.shape[1]
    beta, free = np.zeros(p), np.ones(p, dtype=bool)
    for j, value in (fixed or {}).items():
        beta[j], free[j] = value, False
    loglik, score, information = _penalised(X, durations, events, beta)
    if not free.any():
        return beta, loglik, information
    for _ in range(MAX_ITERATIONS):
        step = np.zeros(p)
        step[free] = np.linalg.solve(information[np.ix_(free, free)], score[free])
        step *= min(1.0, MAX_STEP / max(np.abs(step).max(), 1e-300))
        for _ in range(30):  # halve while the penalised likelihood falls
            candidate = _penalised(X, durations, events, beta + step)
            if candidate[0] >= loglik - 1e-12:
                break
            step /= 2
        beta = beta + step
        loglik, score, information = candidate
        if np.abs(step).max() < TOLERANCE:
            return beta, loglik, information
    raise NotConverged(f"no convergence in {MAX_ITERATIONS} iterations")


def _profile_limit(X, durations, events, j: int, estimate: float, target: float, direction: int) -> float:
    """Where the profile penalised log likelihood of coefficient j falls to `target`, on one side."""

    def excess(value: float) -> float:
        return maximise(X, durations, events, {j: value})[1] - target

    width, inner = 1.0, estimate
    while abs(estimate + direction * width) <= LIMIT:
        outer = estimate + direction * width
        if excess(outer) < 0:
            return brentq(excess, *sorted((inner, outer)), xtol=1e-10)
        inner, width = outer, 2 * width
    return direction * np.inf


def firth_cox(X, durations, events, level: float = 0.95) -> FirthFit:
    """Firth's penalised Cox model of `durations`/`events` on the columns of `X` (module docstring)."""
    X, durations, events = (np.asarray(a, dtype=float) for a in (X, durations, events))
    p = X.shape[1]
    beta, loglik, information = maximise(X, durations, events)
    cutoff = loglik - chi2.ppf(level, 1) / 2
    chisq = np.array([2 * (loglik - maximise(X, durations, events, {j: 0.0})[1]) for j in range(p)])
    lower = np.array([_profile_limit(X, durations, events, j, beta[j], cutoff, -1) for j in range(p)])
    upper = np.array([_profile_limit(X, durations, events, j, beta[j], cutoff, +1) for j in range(p)])
    null = maximise(X, durations, events, dict.fromkeys(range(p), 0.0))[1]
    lr = max(2 * (loglik - null), 0.0)
    chisq = np.maximum(chisq, 0.0)
    return FirthFit(
        beta,
        np.sqrt(np.diag(np.linalg.inv(information))),
        lower,
        upper,
        chisq,
        chi2.sf(chisq, 1),
        lr,
        p,
        float(chi2.sf(lr, p)),
        loglik,
    )

"""Cox's partial likelihood written out, for what lifelines' CoxPHFitter does not give: the score
test, the likelihood-ratio test when an estimate diverges (monotone likelihood), and the
derivatives Firth's penalty needs (`cartwh.stats.firth`).

Every function takes a design matrix ``X`` (n x p), ``durations`` and ``events`` (1 = event) and
works on sums over risk sets, computed once per call by cumulative sums over the subjects sorted
by time (no loop over subjects), so a registry of 100,000 patients costs a few array passes.

Ties, as R's ``coxph`` and ``coxphf`` treat them:

* **Efron** (R ``coxph``'s default, and lifelines'): the d deaths at one time share the risk set
  with the r-th of them (r = 0 .. d-1) seeing it depleted by r/d of the dying subjects' weight.
* **Breslow** (``coxphf``, SAS PHREG's Firth option): every death at a time sees the whole risk set.

``loglik`` is the log partial likelihood, ``score`` its gradient, ``information`` minus its
Hessian; ``information_derivative[j, k, l]`` = d information[j, k] / d beta[l] (Breslow only,
for Firth's modified score).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.stats import chi2

# Newton's iterations on a partial likelihood that has no maximum (monotone likelihood) gain about
# one unit of the diverging coefficient each; the log likelihood is then within e^-40 of its
# supremum after 40, far inside any printed digit.
MAX_ITERATIONS = 100
TOLERANCE = 1e-10


class PartialLikelihood(NamedTuple):
    loglik: float
    score: np.ndarray
    information: np.ndarray
    information_derivative: np.ndarray | None = None


class ModelTest(NamedTuple):
    statistic: float
    df: int
    p_value: float


def _risk_sets(X: np.ndarray, durations: np.ndarray, events: np.ndarray, beta: np.ndarray, third: bool):
    """Per distinct event time: deaths d, the sums over the dying subjects (D0, D1, D2) and over
    the risk set (S0, S1, S2, and S3 if asked) of exp(x'beta) times x's powers."""
    order = np.argsort(-durations, kind="stable")
    t, e, x = durations[order], events[order].astype(float), X[order]
    w = np.exp(x @ beta)
    powers = [w, w[:, None] * x, w[:, None, None] * x[:, :, None] * x[:, None, :]]
    if third:
        powers.append(powers[2][:, :, :, None] * x[:, None, None, :])
    times, first = np.unique(-t, return_index=True)  # descending times; last index of a tie block
    last = np.r_[first[1:], len(t)] - 1
    at_risk = [np.cumsum(s, axis=0)[last] for s in powers]  # everyone with duration >= the time
    block = np.repeat(np.arange(len(times)), np.diff(np.r_[first, len(t)]))
    dying = [np.zeros((len(times), *s.shape[1:])) for s in powers[:3]]
    for sums, s in zip(dying, powers, strict=False):
        np.add.at(sums, block, s * e.reshape((-1,) + (1,) * (s.ndim - 1)))
    deaths = np.bincount(block, weights=e, minlength=len(times))
    keep = deaths > 0
    return deaths[keep], [s[keep] for s in dying], [s[keep] for s in at_risk], x[e > 0].sum(axis=0)


def breslow(X, durations, events, beta, third: bool = False) -> PartialLikelihood:
    deaths, (_, _, _), sums, x_dead = _risk_sets(X, durations, events, beta, third)
    s0, s1, s2 = sums[:3]
    mean = s1 / s0[:, None]
    cov = s2 / s0[:, None, None] - mean[:, :, None] * mean[:, None, :]
    loglik = float(x_dead @ beta - deaths @ np.log(s0))
    derivative = None
    if third:
        s3 = sums[3] / s0[:, None, None, None]
        # d/dbeta_l of (S2/S0 - mean mean'): S3/S0 - (S2/S0) mean_l - cov[j, l] mean_k - mean_j cov[k, l]
        d_cov = (
            s3
            - (s2 / s0[:, None, None])[:, :, :, None] * mean[:, None, None, :]
            - cov[:, :, None, :] * mean[:, None, :, None]
            - mean[:, :, None, None] * cov[:, None, :, :]
        )
        derivative = np.einsum("t,tjkl->jkl", deaths, d_cov)
    return PartialLikelihood(loglik, x_dead - deaths @ mean, np.einsum("t,tjk->jk", deaths, cov), derivative)


def efron(X, durations, events, beta) -> PartialLikelihood:
    deaths, dying, at_risk, x_dead = _risk_sets(X, durations, events, beta, third=False)
    # one row per death: the r-th of d tied deaths removes r/d of the dying subjects' weight
    block = np.repeat(np.arange(len(deaths)), deaths.astype(int))
    fraction = (np.arange(len(block)) - np.r_[0, np.cumsum(deaths)[:-1]].repeat(deaths.astype(int))) / deaths[block]
    s0, s1, s2 = (
        at_risk[k][block] - fraction.reshape((-1,) + (1,) * (at_risk[k].ndim - 1)) * dying[k][block] for k in range(3)
    )
    mean = s1 / s0[:, None]
    information = (s2 / s0[:, None, None] - mean[:, :, None] * mean[:, None, :]).sum(axis=0)
    return PartialLikelihood(float(x_dead @ beta - np.log(s0).sum()), x_dead - mean.sum(axis=0), information)


def score_test(X, durations, events) -> ModelTest:
    """R ``coxph``'s "Score (logrank) test": U(0)' I(0)^-1 U(0), Efron ties, chi-square on p df.
    It needs no estimate, so it stays valid when one diverges."""
    fit = efron(X, durations, events, np.zeros(X.shape[1]))
    statistic = float(fit.score @ np.linalg.solve(fit.information, fit.score))
    return ModelTest(statistic, X.shape[1], float(chi2.sf(statistic, X.shape[1])))


def likelihood_ratio_at_supremum(X, durations, events) -> ModelTest:
    """2 (sup log L - log L(0)), Efron ties, chi-square on p df: Newton's method with step halving
    climbs the partial likelihood until it stops rising, wherever the coefficients go. Where the
    maximum exists this is the usual likelihood-ratio test; under monotone likelihood the
    supremum is approached as an estimate diverges, and the test stays valid (R ``coxph`` prints
    the same statistic, from its last iteration)."""
    beta = np.zeros(X.shape[1])
    fit = null = efron(X, durations, events, beta)
    for _ in range(MAX_ITERATIONS):
        step = np.linalg.lstsq(fit.information, fit.score, rcond=None)[0]
        for _ in range(30):
            candidate = efron(X, durations, events, beta + step)
            if candidate.loglik >= fit.loglik:
                break
            step = step / 2
        gain = candidate.loglik - fit.loglik
        beta, fit = beta + step, candidate
        if gain <= TOLERANCE * max(1.0, abs(fit.loglik)):
            break
    statistic = max(2 * (fit.loglik - null.loglik), 0.0)
    return ModelTest(statistic, X.shape[1], float(chi2.sf(statistic, X.shape[1])))

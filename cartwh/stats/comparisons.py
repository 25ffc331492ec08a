"""Group comparisons of the paper's Tables 1-3, with the test and its method named beside
every p-value.

Counts: Fisher's exact test for a 2x2 table with any expected count below 5, otherwise
Pearson's chi-square (Cochran's rule). This is the rule that reproduces the paper's mix of
tests (docs/definitions.md "Statistics": blinatumomab, MRD and CD19-negative relapse by Fisher; tocilizumab and
the 2x3 burden transitions by Pearson). The chi-square is without continuity correction
(`pearson`, SPSS's "Pearson Chi-Square") or, for a 2x2 table, with Yates' correction
(`yates`, R ``chisq.test``'s default; a larger table has no correction in either).
Continuous values: Mann-Whitney U for two groups, Kruskal-Wallis for three or more (the
paper's Methods); each group summarised by its median with range and a distribution-free
95 % CI. Mann-Whitney p-values (`cartwh.stats.conventions.MANN_WHITNEY_METHODS`):

* ``asymptotic``: z = (U - n1 n2 / 2) / sd, sd from the tie-corrected variance
  n1 n2 / 12 * ((n + 1) - sum(t^3 - t) / (n (n - 1))), no continuity correction: what
  SPSS prints as "Asymp. Sig. (2-tailed)" (the paper's software, the default);
* ``asymptotic_corrected``: the same with the continuity correction, |U - n1 n2 / 2| - 0.5
  (R ``wilcox.test`` with ties or n >= 50);
* ``exact``: the exact permutation distribution of the rank sum (midranks with ties),
  two-sided p = min(1, 2 min(P(W <= w), P(W >= w))): R ``wilcox.test``'s exact p and SPSS's
  "Exact Sig. [2*(1-tailed Sig.)]" when there are no ties; with ties the conditional exact
  test of SPSS Exact Tests. Computed by counting rank-sum subsets; beyond ``EXACT_MAX_CELLS``
  the asymptotic p is used and the row says so;
* ``r``: R ``wilcox.test``'s own choice: ``exact`` when both groups have < 50 values and
  there are no ties, otherwise ``asymptotic_corrected``.

Kruskal-Wallis: H with the tie correction, chi-square approximation on k-1 df (R
``kruskal.test`` and SPSS alike). Every result names the method actually used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from cartwh.stats.conventions import CHI_SQUARE_METHODS, MANN_WHITNEY_METHODS

FISHER, PEARSON = "Fisher's exact", "Pearson chi-square"
MANN_WHITNEY, KRUSKAL_WALLIS = "Mann-Whitney U", "Kruskal-Wallis"
EXACT, ASYMPTOTIC, ASYMPTOTIC_CORRECTED = "exact", "asymptotic", "asymptotic_corrected"
# Work of the exact subset counts (values x group size x rank sums): covers R's exact range
# (both groups < 50) in about 0.2 s; larger samples use the asymptotic p and say so.
EXACT_MAX_CELLS = 50_000_000


@dataclass(frozen=True)
class TestResult:
    test: str | None
    statistic: float
    p_value: float
    reason: str | None = None  # why no p-value could be computed
    method: str | None = None  # exact | asymptotic | asymptotic_corrected, plus why if it fell back


def _not_estimable(reason: str) -> TestResult:
    return TestResult(None, np.nan, np.nan, reason)


def compare_counts(table, chi_square: str = "pearson") -> TestResult:
    """Rows are groups, columns categories (counts)."""
    if chi_square not in CHI_SQUARE_METHODS:
        raise ValueError(f"chi_square must be one of {list(CHI_SQUARE_METHODS)}, not {chi_square!r}")
    table = np.asarray(table, dtype=float)
    table = table[:, table.sum(axis=0) > 0]  # a category nobody has carries no information
    if table.shape[0] < 2 or table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return _not_estimable("fewer than two non-empty groups or categories")
    expected = stats.contingency.expected_freq(table)
    if table.shape == (2, 2) and (expected < 5).any():
        return TestResult(FISHER, np.nan, float(stats.fisher_exact(table).pvalue), method=EXACT)
    yates = chi_square == "yates" and table.shape == (2, 2)
    chi2, p, _, _ = stats.chi2_contingency(table, correction=yates)
    return TestResult(PEARSON, float(chi2), float(p), method=ASYMPTOTIC_CORRECTED if yates else ASYMPTOTIC)


def _exact_rank_sum_p(doubled_ranks: np.ndarray, n1: int, observed: int) -> float:
    """Two-sided exact p of the sum of n1 of the (integer, doubled) ranks: the share of all
    C(n, n1) subsets whose sum is <= / >= the observed one, doubled, capped at 1."""
    total = int(doubled_ranks.sum())
    counts = np.zeros((n1 + 1, total + 1))  # counts[k, s]: subsets of size k with sum s
    counts[0, 0] = 1.0
    for w in doubled_ranks.astype(int):
        counts[1:, w:] = counts[1:, w:] + counts[:-1, : total + 1 - w]
    dist = counts[n1] / counts[n1].sum()
    return float(min(1.0, 2 * min(dist[: observed + 1].sum(), dist[observed:].sum())))


def mann_whitney(x, y, method: str = ASYMPTOTIC) -> TestResult:
    """Two-sided Mann-Whitney U of x against y (U of x, as R's W); methods in the module doc."""
    if method not in MANN_WHITNEY_METHODS:
        raise ValueError(f"Mann-Whitney method must be one of {list(MANN_WHITNEY_METHODS)}, not {method!r}")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n1, n2 = len(x), len(y)
    n = n1 + n2
    ranks = stats.rankdata(np.concatenate([x, y]))
    u = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2)
    _, ties = np.unique(ranks, return_counts=True)
    if method == "r":
        method = EXACT if n1 < 50 and n2 < 50 and (ties == 1).all() else ASYMPTOTIC_CORRECTED
    fallback = ""
    if method == EXACT:
        if n * min(n1, n2) * n * (n + 1) <= EXACT_MAX_CELLS:
            small = min(n1, n2)
            doubled = np.rint(2 * ranks).astype(int)  # midranks are multiples of 1/2
            picked = doubled[:n1] if n1 == small else doubled[n1:]
            return TestResult(MANN_WHITNEY, u, _exact_rank_sum_p(doubled, small, int(picked.sum())), method=EXACT)
        method, fallback = ASYMPTOTIC, f" (exact not computed for n = {n})"
    variance = n1 * n2 / 12 * ((n + 1) - (ties**3 - ties).sum() / (n * (n - 1)))
    difference = u - n1 * n2 / 2
    if method == ASYMPTOTIC_CORRECTED:
        difference -= np.sign(difference) * 0.5  # R: z = (W - mu - sign(W - mu) / 2) / sigma
    p = float(min(1.0, 2 * stats.norm.sf(abs(difference) / np.sqrt(variance))))
    return TestResult(MANN_WHITNEY, u, p, method=method + fallback)


def compare_values(*groups, mann_whitney_method: str = ASYMPTOTIC) -> TestResult:
    """Continuous values of two or more groups (NaN dropped)."""
    groups = [np.asarray(g, dtype=float) for g in groups]
    groups = [g[~np.isnan(g)] for g in groups]
    if len(groups) < 2 or any(len(g) == 0 for g in groups):
        return _not_estimable("a group without values")
    if np.ptp(np.concatenate(groups)) == 0:
        return _not_estimable("all values equal")
    if len(groups) == 2:
        return mann_whitney(*groups, method=mann_whitney_method)
    result = stats.kruskal(*groups)  # tie-corrected H, chi-square on k - 1 df
    return TestResult(KRUSKAL_WALLIS, float(result.statistic), float(result.pvalue), method=ASYMPTOTIC)


@dataclass(frozen=True)
class MedianSummary:
    n: int
    median: float
    minimum: float
    maximum: float
    ci_lower: float  # distribution-free CI of the median (order statistics), NaN when n < 6
    ci_upper: float


def median_summary(values, level: float = 0.95) -> MedianSummary:
    """Median, range and the order-statistic CI of the median: [x_(k), x_(n-k+1)] with the
    largest k such that P(Binomial(n, 1/2) < k) <= (1 - level) / 2."""
    x = np.sort(np.asarray(values, dtype=float))
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return MedianSummary(0, np.nan, np.nan, np.nan, np.nan, np.nan)
    tail = (1 - level) / 2
    k = int(stats.binom.ppf(tail, n, 0.5))  # P(X <= k - 1) <= tail
    while k > 0 and stats.binom.cdf(k - 1, n, 0.5) > tail:
        k -= 1
    lower, upper = (x[k - 1], x[n - k]) if k >= 1 else (np.nan, np.nan)
    return MedianSummary(n, float(np.median(x)), float(x[0]), float(x[-1]), float(lower), float(upper))

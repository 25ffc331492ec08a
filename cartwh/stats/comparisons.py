"""Group comparisons of the paper's Tables 1-3, with the test named beside every p-value.

Counts: Fisher's exact test for a 2x2 table with any expected count below 5, otherwise
Pearson's chi-square without continuity correction (Cochran's rule). This is the rule that
reproduces the paper's mix of tests (docs/definitions.md "Statistics": blinatumomab, MRD and CD19-negative relapse
by Fisher; tocilizumab and the 2x3 burden transitions by Pearson).
Continuous values: Mann-Whitney U for two groups (exact p for small samples without ties,
otherwise the normal approximation with tie and continuity corrections), Kruskal-Wallis for
three or more (the paper's Methods); each group summarised by its median with range and a
distribution-free 95 % CI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

FISHER, PEARSON = "Fisher's exact", "Pearson chi-square"
MANN_WHITNEY, KRUSKAL_WALLIS = "Mann-Whitney U", "Kruskal-Wallis"


@dataclass(frozen=True)
class TestResult:
    test: str | None
    statistic: float
    p_value: float
    reason: str | None = None  # why no p-value could be computed


def _not_estimable(reason: str) -> TestResult:
    return TestResult(None, np.nan, np.nan, reason)


def compare_counts(table) -> TestResult:
    """Rows are groups, columns categories (counts)."""
    table = np.asarray(table, dtype=float)
    table = table[:, table.sum(axis=0) > 0]  # a category nobody has carries no information
    if table.shape[0] < 2 or table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return _not_estimable("fewer than two non-empty groups or categories")
    expected = stats.contingency.expected_freq(table)
    if table.shape == (2, 2) and (expected < 5).any():
        return TestResult(FISHER, np.nan, float(stats.fisher_exact(table).pvalue))
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    return TestResult(PEARSON, float(chi2), float(p))


def compare_values(*groups) -> TestResult:
    """Continuous values of two or more groups (NaN dropped)."""
    groups = [np.asarray(g, dtype=float) for g in groups]
    groups = [g[~np.isnan(g)] for g in groups]
    if len(groups) < 2 or any(len(g) == 0 for g in groups):
        return _not_estimable("a group without values")
    if np.ptp(np.concatenate(groups)) == 0:
        return _not_estimable("all values equal")
    if len(groups) == 2:
        result = stats.mannwhitneyu(*groups, alternative="two-sided", method="auto")
        return TestResult(MANN_WHITNEY, float(result.statistic), float(result.pvalue))
    result = stats.kruskal(*groups)
    return TestResult(KRUSKAL_WALLIS, float(result.statistic), float(result.pvalue))


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

"""Group comparisons against values known independently of the code: the p-values docs/definitions.md
lists from the paper's own counts, and small cases computed by hand."""

import math

import numpy as np
import pytest
from scipy import stats

from cartwh.stats.comparisons import (
    FISHER,
    KRUSKAL_WALLIS,
    MANN_WHITNEY,
    PEARSON,
    compare_counts,
    compare_values,
    median_summary,
)


@pytest.mark.parametrize(
    "name, table, test, p",
    [
        # rows: inotuzumab (n=10), chemotherapy (n=14); docs/definitions.md "Statistics"
        ("prior blinatumomab 2/10 vs 0/14", [[2, 8], [0, 14]], FISHER, 0.163),
        ("undetectable MRD pre-LD 6/10 vs 2/14", [[6, 4], [2, 12]], FISHER, 0.032),
        ("CD19-negative relapse 0/10 vs 4/14", [[0, 10], [4, 10]], FISHER, 0.114),
        ("tumour-burden transition 0/8/2 vs 4/4/6", [[0, 8, 2], [4, 4, 6]], PEARSON, 0.032),
        ("tocilizumab 3/10 vs 9/14", [[3, 7], [9, 5]], PEARSON, 0.098),
    ],
)
def test_paper_p_values_and_the_test_that_gives_them(name, table, test, p):
    result = compare_counts(table)
    assert result.test == test, name
    assert round(result.p_value, 3) == p, name


def test_pearson_statistic_by_hand():
    # tocilizumab: expected 5, 5, 7, 7 -> chi2 = 4/5 + 4/5 + 4/7 + 4/7
    assert compare_counts([[3, 7], [9, 5]]).statistic == pytest.approx(1.6 + 8 / 7)
    # transitions: chi2 = 6.857 on 2 df -> p = exp(-6.857 / 2)
    result = compare_counts([[0, 8, 2], [4, 4, 6]])
    assert result.statistic == pytest.approx(48 / 7)
    assert result.p_value == pytest.approx(math.exp(-24 / 7))


def test_fisher_by_hand():
    # [[2, 8], [0, 14]]: 2 of the 24 patients had blinatumomab, 10 are inotuzumab. Hypergeometric:
    # P(both in the inotuzumab row) = 10*9/(24*23) = 0.163, P(none) = 14*13/(24*23) = 0.330,
    # P(one) = 0.507. Two-sided: tables no more probable than the observed one: only a = 2.
    assert compare_counts([[2, 8], [0, 14]]).p_value == pytest.approx(90 / 552)


def test_empty_category_and_degenerate_tables():
    assert compare_counts([[0, 5, 5], [0, 4, 6]]).test is not None  # an empty category is dropped
    assert compare_counts([[5, 5], [0, 0]]).reason
    assert compare_counts([[10, 0], [14, 0]]).reason
    assert np.isnan(compare_counts([[10], [14]]).p_value)


def test_mann_whitney_exact_by_hand():
    # no overlap, 3 vs 3: U = 0, two-sided exact p = 2 / C(6, 3) = 0.1
    result = compare_values([1, 2, 3], [4, 5, 6], mann_whitney_method="exact")
    assert result.test == MANN_WHITNEY and result.statistic == 0 and result.p_value == pytest.approx(0.1)


def test_mann_whitney_with_ties_continuity_corrected_normal_approximation_by_hand():
    a, b = [1, 2, 2, 3, 5, 7, 8, 9, 10], [2, 4, 6, 6, 11, 12, 13, 14, 15]
    ranks = stats.rankdata(a + b)
    u = ranks[: len(a)].sum() - len(a) * (len(a) + 1) / 2
    n1 = n2 = 9
    n = n1 + n2
    _, counts = np.unique(a + b, return_counts=True)
    var = n1 * n2 / 12 * ((n + 1) - (counts**3 - counts).sum() / (n * (n - 1)))
    z = (abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(var)
    result = compare_values(a, b, mann_whitney_method="asymptotic_corrected")
    assert result.statistic == u
    assert result.p_value == pytest.approx(2 * stats.norm.sf(z))


def test_kruskal_wallis_by_hand_and_degenerate_groups():
    groups = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    # ranks 1..9, rank sums 6, 15, 24: H = 12/(9*10) * (36+225+576)/3 - 3*10 = 7.2
    result = compare_values(*groups)
    assert result.test == KRUSKAL_WALLIS and result.statistic == pytest.approx(7.2)
    assert result.p_value == pytest.approx(math.exp(-3.6))
    assert compare_values([1, 2], []).reason and compare_values([3, 3], [3, 3]).reason


def test_median_summary_order_statistic_ci_by_hand():
    # n = 10: P(X <= 1) = 11/1024 = 0.0107 <= 0.025 < P(X <= 2) = 0.0547 -> k = 2: [x(2), x(9)]
    values = [15, 3, 9, 1, 12, 7, 20, 5, 11, 30]
    summary = median_summary(values)
    assert (summary.n, summary.median, summary.minimum, summary.maximum) == (10, 10.0, 1, 30)
    assert (summary.ci_lower, summary.ci_upper) == (3, 20)
    # n = 5: P(X <= 0) = 1/32 = 0.031 > 0.025: no CI at 95 %
    assert np.isnan(median_summary([1, 2, 3, 4, 5]).ci_lower)
    assert median_summary([]).n == 0 and np.isnan(median_summary([np.nan]).median)

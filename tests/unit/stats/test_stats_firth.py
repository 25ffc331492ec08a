"""Tests of cartwh.stats.firth against R ``coxphf`` output published for survival's own example
data, ``test1`` of ``?coxph`` (time 4 3 1 1 2 2 3, status 1 1 1 0 1 1 0, x 0 2 1 1 1 0 0, sex
0 0 0 0 1 1 1), fitted as coxphf(Surv(time, status) ~ factor(x) + sex) in the biostatUtil
package's documentation (prettyCoxph, use.firth = -1; coxphf's default pl = TRUE, Breslow ties):

                         coef se(coef) exp(coef) lower 0.95 upper 0.95       Chisq         p
    x1             1.60161779 1.354154 4.9610519 0.56823954   71.53693 2.122594512 0.1451405
    x2             0.67787698 1.551143 1.9696916 0.13404776   39.18328 0.268749031 0.6041722
    sex=1         -0.09450898 1.380503 0.9098196 0.07179951   11.88728 0.006335744 0.9365575
    Likelihood ratio test=2.170314 on 3 df, p=0.5378191, n=7

coxphf stops when no coefficient changes by more than 1e-6, we at 1e-10: the coefficients
agree to 1e-6, everything else to its printed digits. The monotone-likelihood case is checked
by hand in tests/unit/stats/test_stats_cox.py::test_separated_tests_by_hand.
"""

import numpy as np
import pytest

from cartwh.stats.firth import firth_cox

TIME = [4, 3, 1, 1, 2, 2, 3]
STATUS = [1, 1, 1, 0, 1, 1, 0]
X = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1], [0, 0, 1]], dtype=float)
COEF = [1.60161779, 0.67787698, -0.09450898]
SE = [1.354154, 1.551143, 1.380503]
LOWER = [0.56823954, 0.13404776, 0.07179951]
UPPER = [71.53693, 39.18328, 11.88728]
CHISQ = [2.122594512, 0.268749031, 0.006335744]
P = [0.1451405, 0.6041722, 0.9365575]


def test_matches_coxphf():
    fit = firth_cox(X, TIME, STATUS)
    np.testing.assert_allclose(fit.coef, COEF, atol=1e-6)
    np.testing.assert_allclose(fit.se, SE, atol=5e-7)
    np.testing.assert_allclose(np.exp(fit.ci_lower), LOWER, rtol=5e-7)
    np.testing.assert_allclose(np.exp(fit.ci_upper), UPPER, rtol=5e-7)
    np.testing.assert_allclose(fit.chisq, CHISQ, atol=5e-9)
    np.testing.assert_allclose(fit.p_value, P, atol=5e-8)
    assert (fit.lr_statistic, fit.lr_df, fit.lr_p) == (
        pytest.approx(2.170314, abs=5e-7),
        3,
        pytest.approx(0.5378191, abs=5e-8),
    )

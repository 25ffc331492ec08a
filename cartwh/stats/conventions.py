"""The named conventions the statistics can follow, and how each is described in outputs.

R and SPSS define some statistics differently; `analyses.yml` (`conventions:`) picks one
per statistic, every output row names the one used, and the report's methods paragraph and
table footnotes describe it with the sentences below (one wording, everywhere).
"""

QUANTILE_CONVENTIONS = {
    "spss": "the first time the curve is at or below 0.5 (SPSS)",
    "r": "the first time the curve is at or below 0.5, or the midpoint of a stretch where it equals 0.5 "
    "exactly (R survival's quantile.survfit)",
}
QUANTILE_CI_METHODS = {
    "se": "median ± 1.96 SE (SPSS; SE from Collett's density estimate, lower limit truncated at 0)",
    "band": "where the 95 % log-log confidence band crosses 0.5 (Brookmeyer–Crowley, R survival)",
}
MANN_WHITNEY_METHODS = {
    "asymptotic": "normal approximation with tie-corrected variance, no continuity correction (SPSS's asymptotic p)",
    "asymptotic_corrected": "normal approximation with tie-corrected variance and continuity correction "
    "(R wilcox.test)",
    "exact": "exact permutation distribution of the rank sum (R wilcox.test without ties, SPSS exact p)",
    "r": "R wilcox.test's choice: exact when both groups have fewer than 50 values and no ties, otherwise the "
    "normal approximation with continuity correction",
}
CHI_SQUARE_METHODS = {
    "pearson": "Pearson's χ² without continuity correction (SPSS's Pearson Chi-Square)",
    "yates": "Pearson's χ² with Yates' continuity correction for 2×2 tables (R chisq.test's default)",
}
# How a result's `method` (exact | asymptotic | asymptotic_corrected) reads, per test.
METHOD_NOTES = {
    ("Mann-Whitney U", "exact"): "exact p",
    ("Mann-Whitney U", "asymptotic"): "asymptotic p, no continuity correction",
    ("Mann-Whitney U", "asymptotic_corrected"): "asymptotic p with continuity correction",
    ("Kruskal-Wallis", "asymptotic"): "χ² approximation, tie-corrected",
    ("Pearson chi-square", "asymptotic"): "no continuity correction",
    ("Pearson chi-square", "asymptotic_corrected"): "Yates' continuity correction",
    ("Fisher's exact", "exact"): "two-sided",
    ("log-rank", "asymptotic"): "χ² on 1 df",
    ("k-group log-rank", "asymptotic"): "χ² on k − 1 df",
}

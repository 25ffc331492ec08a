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
CUMULATIVE_INCIDENCE_CONVENTIONS = {
    "cuminc": "Aalen–Johansen estimates with Aalen's variance as R cmprsk::cuminc computes it (SAS LIFETEST's "
    "default) and pointwise 95 % CIs on the log(−log) scale (tidycmprsk, SAS)",
    "survfit": "Aalen–Johansen estimates with the infinitesimal-jackknife variance R survival::survfit uses for a "
    "multi-state outcome and pointwise 95 % CIs on the log scale, the upper limit capped at 1 (survfit's default)",
}
CONSOLIDATIVE_HSCT_CHOICES = {
    "competing": "a consolidative HSCT in remission is a competing event of its own",
    "censored": "follow-up is censored at a consolidative HSCT in remission",
}
# What produced a regression row (analytics.cox_models, analytics.competing_risk_models: `method`).
REGRESSION_METHODS = {
    "cox": "Cox partial likelihood (Efron ties; R coxph), Wald 95 % CI and p",
    "firth": "Firth's penalised partial likelihood (Breslow ties; R coxphf), profile penalised-likelihood 95 % CI "
    "and penalised likelihood-ratio p",
    "cause_specific_cox": "cause-specific Cox model (the other causes censored; Efron ties, R coxph), Wald 95 % CI "
    "and p",
    "fine_gray": "Fine–Gray subdistribution hazards (R cmprsk::crr: Breslow ties, censoring weights from the "
    "Kaplan–Meier estimate of the censoring distribution, robust sandwich SE), Wald 95 % CI and p",
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
    ("Gray's test", "asymptotic"): "χ² on k − 1 df (R cmprsk::cuminc, ρ = 0)",
}

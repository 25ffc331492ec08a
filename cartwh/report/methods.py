"""The report's methods paragraph, written from the thresholds and settings actually used.

Thresholds come from the `reference.study_parameters` seed and settings from the analysis
plan, so the paragraph cannot drift from the computation it describes.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

import duckdb

from cartwh.report.formatting import TIME_ORIGINS
from cartwh.stats.conventions import (
    CHI_SQUARE_METHODS,
    CONSOLIDATIVE_HSCT_CHOICES,
    CUMULATIVE_INCIDENCE_CONVENTIONS,
    MANN_WHITNEY_METHODS,
    QUANTILE_CI_METHODS,
    QUANTILE_CONVENTIONS,
)
from cartwh.study.config import Plan

SOFTWARE = ("duckdb", "dbt-core", "dbt-duckdb", "dagster", "pandas", "scipy", "lifelines", "matplotlib")


def software_versions() -> dict[str, str]:
    found = {"Python": platform.python_version()}
    for package in SOFTWARE:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def _g(value: float) -> str:
    return f"{value:g}"


ROUTE_LABELS = {
    "exported": "the laboratory's exported count",
    "beads": "bead counting",
    "dual_platform": "dual platform",
    None: "no route (no value)",
}
_MEASURES = {"CAR-T/µL": "car_t_per_ul_route", "B cells/µL": "b_cells_per_ul_route"}


def absolute_count_routes(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str | None, int]]:
    """Post-infusion samples per route (docs/definitions.md "Absolute counts"), per measure, from
    marts.car_t_kinetics; a sample without a value counts under None."""
    return {
        measure: dict(
            con.execute(
                f"SELECT {column}, count(*) FROM marts.car_t_kinetics GROUP BY ALL "
                f"ORDER BY count(*) DESC, {column} NULLS LAST"
            ).fetchall()
        )
        for measure, column in _MEASURES.items()
    }


def absolute_count_paragraph(routes: dict[str, dict[str | None, int]], p: dict[str, str]) -> str:
    """How cells/µL were obtained, and which routes the cohort's samples used."""
    used = "; ".join(
        f"{measure}: " + ", ".join(f"{ROUTE_LABELS[route]} {n}" for route, n in counts.items())
        for measure, counts in routes.items()
        if counts
    )
    samples = max((sum(c.values()) for c in routes.values()), default=0)
    return (
        "Absolute counts (cells/µL) were the laboratory's exported count where it sent one, otherwise computed from "
        "the tube's events by single-platform bead counting (cell events ÷ bead events × beads per tube ÷ µL of "
        "blood in the tube) or, without beads, by the dual-platform method (the population's share of the tube's "
        "leukocytes × the white blood cell count of the same day, else of its lymphocytes × the absolute "
        "lymphocyte count). An exported count more than "
        f"{float(p['absolute_count_max_relative_difference']) * 100:g} % and "
        f"{p['absolute_count_min_difference_cells_per_ul']} cells/µL away from the one computed from the same tube "
        f"was flagged for review. Of the {samples} post-infusion samples: {used or 'none'}."
    )


def competing_risks_paragraph(plan: Plan) -> str | None:
    """How the plan's competing-risk analyses were defined and estimated, naming the conventions."""
    if not (plan.competing_risks or plan.competing_risk_regression):
        return None
    c = plan.conventions
    analyses = "; ".join(
        f"{a.title} ({a.endpoint}, time from {TIME_ORIGINS.get(a.endpoint, 'infusion')}; causes: "
        + ", ".join(a.causes.values())
        + ")"
        for a in plan.competing_risks
    )
    return (
        f"Competing risks. {analyses}: each cause with every other as a competing event; relapse includes "
        "progression and no response at day 28, and non-relapse mortality (NRM) is death without relapse. "
        f"By the plan's choice, {CONSOLIDATIVE_HSCT_CHOICES[c.consolidative_hsct]}. Cumulative incidence: "
        f"{CUMULATIVE_INCIDENCE_CONVENTIONS[c.cumulative_incidence]}, given at "
        f"{', '.join(_g(t) for t in plan.landmark_months)} months; the groups were compared by Gray's test "
        "(ρ = 0, R cmprsk::cuminc). Effects on the cumulative incidence of a cause were estimated by Fine–Gray "
        "subdistribution-hazards regression (R cmprsk::crr's definitions: Breslow ties, censoring weights from "
        "the Kaplan–Meier estimate of the censoring distribution, robust sandwich variance) and effects on its "
        "hazard by cause-specific Cox models, the other causes censored."
    )


def methods_paragraphs(
    plan: Plan, parameters: dict[str, float], code_version: str, routes: dict[str, dict[str | None, int]] | None = None
) -> list[str]:
    p = {name: _g(value) for name, value in parameters.items()}
    c = plan.conventions
    landmarks = ", ".join(_g(t) for t in plan.landmark_months)
    software = ", ".join(f"{name} {v}" for name, v in software_versions().items())
    return [
        f"Patients were grouped by bridging therapy: inotuzumab ozogamicin given between leukapheresis and "
        f"infusion, otherwise chemotherapy and/or steroids. Study days count from infusion (day 0); months are "
        f"days / {p['days_per_month']}. Tumour burden was high when marrow blasts by flow cytometry exceeded "
        f"{p['htb_blast_threshold_pct']} % (exactly {p['htb_blast_threshold_pct']} % counts as low), taken from the "
        f"last marrow before bridging and the last after bridging and before lymphodepletion. The ALL-Hematotox "
        f"score used the laboratory sample closest before lymphodepletion within {p['pre_ld_lab_window_days']} days; "
        f"a missing component leaves the score missing.",
        f"CAR-T expansion was the peak CAR-T/µL in days 0–{p['peak_last_day']} (expansion: peak > "
        f"{p['expansion_threshold_cells_per_ul']} CAR-T/µL); AUC_14 is the linear trapezoid over the samples of days "
        f"{p['auc_first_day']}–{p['auc_last_day']} at their actual days, computed only from at least "
        f"{p['auc_min_points']} timepoints. Absolute B-cell aplasia was ≤ {p['bca_limit_cells_per_ul']} B cell/µL; "
        f"its loss the first sample above that limit followed by a higher one.",
        *([absolute_count_paragraph(routes, p)] if routes is not None else []),
        "Event-free survival counted relapse (marrow blasts > "
        f"{p['relapse_blast_threshold_pct']} % after CR/CRi beyond day 28, or extramedullary disease), progression or "
        "death as events; consolidative HSCT was not an event. Overall survival counted death from any cause. "
        "Survival was estimated by Kaplan–Meier with 95 % confidence intervals from the log-log transform "
        "(Greenwood variance) and compared by the log-rank test (k-group log-rank for more than two groups); "
        f"survival is given at {landmarks} months. The median (and any quantile) is "
        f"{QUANTILE_CONVENTIONS[c.km_quantile]}, comparing the curve with 0.5 to within 1.5·10⁻⁸ (R's tolerance) so "
        f"that rounding cannot move it; its 95 % CI is {QUANTILE_CI_METHODS[c.median_ci]}. Median follow-up was "
        "estimated by reverse Kaplan–Meier with the same definitions (both intervals are in analytics.follow_up). The "
        "Kaplan–Meier mean is the area under the curve up to the largest observed time (as SPSS reports it), with "
        "95 % CI mean ± 1.96 SE, the lower limit truncated at 0; a group without events is reported as such; "
        f"the restricted mean survival time is given at τ = {_g(plan.rmst_tau_months)} months. Groups defined by a "
        "value measured after infusion were analysed from the day of that measurement (landmark analysis), among "
        "patients still event-free then, to avoid immortal-time bias. Hazard ratios come "
        "from Cox proportional-hazards models (Efron ties, Wald 95 % CI), with the likelihood-ratio and score tests "
        "of each model; where the partial likelihood has no maximum because a group's events all precede the "
        "others' or a group has none (monotone likelihood), the hazard ratio is not estimable, the "
        "likelihood-ratio test (at the supremum of the likelihood) and the score test are reported, and Firth's "
        "penalised likelihood estimate is given beside them (R coxphf's definitions: Breslow ties, profile "
        "penalised-likelihood 95 % CI, penalised likelihood-ratio p).",
        *filter(None, [competing_risks_paragraph(plan)]),
        "Continuous variables are summarised as median with range or with the distribution-free 95 % CI of the "
        f"median, and compared by the Mann–Whitney U test (two groups; p: {MANN_WHITNEY_METHODS[c.mann_whitney]}) "
        "or the Kruskal–Wallis test (three or more; χ² approximation with tie correction). Counts were compared by "
        "Fisher's exact test (two-sided) for 2×2 tables with an expected count below 5 and otherwise by "
        f"{CHI_SQUARE_METHODS[c.chi_square]}; the test and its method are named beside every p-value. Cut-offs "
        "for continuous predictors of EFS events were taken from the ROC curve (Youden index) and accepted when "
        f"the ROC AUC exceeded {_g(plan.cutoff_min_roc_auc)} (DeLong 95 % CI); otherwise the median was used. "
        "p-values are two-sided and not adjusted for multiple comparisons.",
        f"Computed by {code_version} with {software}; analysis plan {plan.source or 'analyses.yml'}.",
    ]

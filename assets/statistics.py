"""Statistics assets: the analysis plan (analyses.yml) run on the marts into `analytics.*`,
and the study report rendered from those tables. The computing lives in `cartwh.study`
and `cartwh.report`; these assets only wire it to the warehouse, and import it when their steps
run: its libraries (lifelines, scipy, matplotlib) take seconds, and loading the definitions (each
night, each code-location reload) needs none of them. (No `from __future__ import annotations`:
Dagster reads the annotations at definition time.)"""

from functools import cache
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.resources import StudyPlan
from cartwh import settings
from cartwh.dbt.manifest import mart_names
from cartwh.study.analytics_tables import ANALYTICS_TABLES
from cartwh.study.config import Plan, PlanError, load_plan

ANALYTICS_KEYS = {name: dg.AssetKey(["analytics", name]) for name in ANALYTICS_TABLES}
# What each table holds (README, "analytics"); the analyses it holds are added from the plan.
HOLDS = {
    "km_estimates": "Kaplan-Meier S(t) with its 95 % log-log CI, at risk, events, censored; per analysis, endpoint, group, time",
    "survival_tests": "log-rank test per analysis and endpoint (statistic, df, p), or why not estimable",
    "landmark_survival": "S(t) with CI at the landmark months of the plan's settings",
    "survival_summaries": "KM median with SE and CI, SPSS-style KM mean, RMST at tau; per analysis, endpoint, group",
    "follow_up": "median follow-up by reverse Kaplan-Meier, with SE and both CIs",
    "group_comparisons": "the plan's tables in long form: n (%), median (range / 95 % CI), test and p per row and group",
    "cutoffs": "ROC AUC (DeLong CI), Youden or median cut-off, sensitivity, specificity",
    "cox_models": "Cox hazard ratios with 95 % CI and p, likelihood-ratio and score tests, concordance, Firth's "
    "penalised fit where the likelihood is monotone, each row naming its method, or why not estimable",
    "cumulative_incidence": "Aalen-Johansen cumulative incidence per cause with SE, 95 % CI, at risk, events, competing "
    "events, censored; per analysis, group, cause, time",
    "competing_risk_landmarks": "cumulative incidence per cause with CI at the landmark months of the plan's settings",
    "competing_risk_tests": "Gray's test per analysis and cause (statistic, df, p), or why not estimable",
    "competing_risk_models": "Fine-Gray subdistribution and cause-specific Cox hazard ratios with 95 % CI and p, each "
    "row naming its method, or why not estimable",
}


def describe_analytics(plan_path: Path) -> dict[str, str]:
    """Each analytics table's description for the Dagster UI: what it holds and the analyses of
    analyses.yml that write it (by title or name), read when the definitions are built. A plan
    that cannot be read leaves the bare descriptions: the definitions still load, and the run
    itself names the mistake."""
    try:
        written_by = _written_by(load_plan(Path(plan_path)))
    except (OSError, PlanError):
        written_by = {}
    return {
        name: f"analytics.{name}: {HOLDS[name]}."
        + (f" Analyses (analyses.yml): {'; '.join(written_by[name])}." if written_by.get(name) else "")
        for name in ANALYTICS_TABLES
    }


def _written_by(plan: Plan) -> dict[str, list[str]]:
    survival = [f"{a.title} ({', '.join(a.endpoints)})" for a in plan.survival]
    competing = [f"{a.title} ({a.endpoint})" for a in plan.competing_risks]
    return {
        **dict.fromkeys(("km_estimates", "survival_tests", "landmark_survival", "survival_summaries"), survival),
        "follow_up": [f"{a.name} ({', '.join(a.endpoints)})" for a in plan.follow_up],
        "group_comparisons": [t.title for t in plan.tables],
        "cutoffs": [a.title for a in plan.survival if a.cutoff],
        "cox_models": [f"{m.name} ({m.endpoint} ~ {' + '.join(m.factors)})" for m in plan.cox],
        **dict.fromkeys(("cumulative_incidence", "competing_risk_landmarks", "competing_risk_tests"), competing),
        "competing_risk_models": [
            f"{m.name} ({m.endpoint} {m.cause} ~ {' + '.join(m.factors)})" for m in plan.competing_risk_regression
        ],
    }


@cache
def study_statistics_asset() -> dg.AssetsDefinition:
    """The analytics tables' asset, built when the definitions are: its inputs are the marts of the
    dbt manifest and its descriptions name the analyses of analyses.yml, both read then, not when
    this module is imported."""
    # Every mart, not only the two read: a blocking data-quality check on any of them (they all
    # feed marts.patients) must keep the statistics from running on it.
    marts = [dg.AssetKey(["marts", name]) for name in mart_names()]  # the models of models/marts
    descriptions = describe_analytics(settings.analyses_path())

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                key, deps=marts, group_name="analytics", kinds={"duckdb", "python"}, description=descriptions[name]
            )
            for name, key in ANALYTICS_KEYS.items()
        ],
    )
    def study_statistics(context: dg.AssetExecutionContext, warehouse: DuckDBResource, study_plan: StudyPlan):
        """Kaplan-Meier, log-rank, landmark survival, follow-up, group comparisons, cut-offs, Cox
        models, cumulative incidence with Gray's test, Fine-Gray and cause-specific models for every
        analysis of the plan, written together in one transaction. Analyses
        that read a column a check of this run blocked are recorded as not estimable, with why."""
        from cartwh.study.blocking import read_blocks
        from cartwh.study.compute import compute_analytics

        plan = load_plan(Path(study_plan.analyses))
        with warehouse.get_connection() as con:
            blocks = read_blocks(con, context.run.run_id)
            if blocks.reasons:
                context.log.warning(
                    f"analyses reading {', '.join(sorted(blocks.reasons))} are blocked by failed checks"
                )
            frames = compute_analytics(con, plan, blocks)
        for name, frame in frames.items():
            analyses = sorted(frame["analysis"].dropna().unique()) if len(frame) else []
            yield dg.MaterializeResult(
                asset_key=ANALYTICS_KEYS[name],
                metadata={
                    "rows": len(frame),
                    "analyses": ", ".join(analyses),
                    "mart_snapshot": frame["mart_snapshot"].iloc[0] if len(frame) else "",
                },
            )

    return study_statistics


@dg.asset(
    key=["reports", "study_report"],
    deps=list(ANALYTICS_KEYS.values()) + [dg.AssetKey(["marts", "car_t_kinetics"])],
    group_name="reports",
    kinds={"html"},
)
def study_report(warehouse: DuckDBResource, study_plan: StudyPlan) -> dg.MaterializeResult:
    """The study report (HTML and, where headless Chromium is installed, PDF: Tables 1-3 and the
    competing-risk tables, Figures 1-7, data quality and methods)."""
    from cartwh.report.render import render_report

    plan = load_plan(Path(study_plan.analyses))
    with warehouse.get_connection() as con:
        path = render_report(con, plan, Path(study_plan.reports))
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path))})

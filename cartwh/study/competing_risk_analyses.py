"""The plan's competing-risk analyses on patient-level endpoint data (docs/definitions.md
"Competing causes").

Input: one row per patient and endpoint (`marts.time_to_event` joined to the patient columns),
with `aval` in months and `cause` (NULL: censored). A consolidative HSCT competes or censors as
the plan's `conventions.consolidative_hsct` says; every output row names that choice
(`consolidative_hsct`) and the variance convention (`convention`). Output: the rows of
analytics.cumulative_incidence, competing_risk_landmarks, competing_risk_tests and
competing_risk_models. A patient whose grouping value is missing is left out of the group
rows and counted (`n_missing_group`), never folded into another group; "All patients" holds
everyone.
"""

from __future__ import annotations

import pandas as pd

from cartwh.stats import competing_risks
from cartwh.stats.cox import cox_model
from cartwh.stats.fine_gray import fine_gray
from cartwh.study.config import CompetingRiskAnalysis, CompetingRiskRegression, Plan, ordered
from cartwh.study.survival_analyses import ALL

HSCT = "consolidative_hsct"


def endpoint_causes(data: pd.DataFrame, endpoint: str, plan: Plan) -> pd.DataFrame:
    """The endpoint's rows, `cause` with a consolidative HSCT turned into a censoring where the
    plan says so (the patient leaves the analysis at the HSCT)."""
    rows = data[data["paramcd"] == endpoint]
    cause = rows["cause"].astype(object).where(rows["cause"].notna(), None)
    if plan.conventions.consolidative_hsct == "censored":
        cause = cause.where(cause != HSCT, None)
    return rows.assign(cause=cause)


def _labels(analysis: CompetingRiskAnalysis, plan: Plan) -> dict:
    return dict(
        analysis=analysis.name,
        endpoint=analysis.endpoint,
        convention=plan.conventions.cumulative_incidence,
        consolidative_hsct=plan.conventions.consolidative_hsct,
    )


def _groups(rows: pd.DataFrame, analysis: CompetingRiskAnalysis, plan: Plan) -> list[tuple[str, pd.DataFrame]]:
    parts = [(ALL, rows)]
    if analysis.by:
        values = rows[analysis.by].map(lambda v: None if pd.isna(v) else str(v))
        preferred = analysis.group_order or (plan.group_order if analysis.by == plan.compare_by else None)
        parts += [(g, rows[values == g]) for g in ordered(values.dropna(), preferred)]
    return parts


def run_competing_risks(data: pd.DataFrame, analysis: CompetingRiskAnalysis, plan: Plan, rows: dict) -> None:
    subset = endpoint_causes(data, analysis.endpoint, plan)
    key = _labels(analysis, plan)
    if subset.empty:  # e.g. a cohort without cytometry has no BCA rows: say so once, in the tests table
        rows["competing_risk_tests"].append(
            dict(**key, reason=f"not estimable: no patient has a {analysis.endpoint} row")
        )
        return
    censored = [c for c in analysis.causes if c == HSCT and plan.conventions.consolidative_hsct == "censored"]
    for cause in censored:  # named in the tests table, so a reader sees why the cause has no curve
        reason = "not estimable: a consolidative HSCT censors follow-up (conventions.consolidative_hsct)"
        rows["competing_risk_tests"].append(dict(**key, cause=cause, reason=reason))
    causes = [c for c in analysis.causes if c not in censored]
    for position, (group, part) in enumerate(_groups(subset, analysis, plan)):
        for cause in causes:
            table = competing_risks.cumulative_incidence(
                part["aval"], part["cause"], cause, plan.conventions.cumulative_incidence
            )
            here = dict(**key, group=group, group_order=position, cause=cause)
            rows["cumulative_incidence"].append(table.assign(**here))
            n, events = len(part), int((part["cause"] == cause).sum())
            for t in plan.landmark_months:
                at = competing_risks.incidence_at(table, t)
                rows["competing_risk_landmarks"].append(
                    dict(**here, landmark_months=t, n=n, events=events, **at._asdict())
                )
    if not analysis.by:
        return
    groups = [g for g, _ in _groups(subset, analysis, plan)[1:]]
    known = subset[analysis.by].notna()
    for cause in causes:
        test = competing_risks.gray_test(
            subset.loc[known, "aval"], subset.loc[known, "cause"], subset.loc[known, analysis.by].astype(str), cause
        )
        rows["competing_risk_tests"].append(
            dict(
                **key,
                cause=cause,
                grouped_by=analysis.by,
                groups=" | ".join(groups),
                n=int(known.sum()),
                events=int((subset.loc[known, "cause"] == cause).sum()),
                n_missing_group=int((~known).sum()),
                **test,
            )
        )


def competing_risk_models(data: pd.DataFrame, regression: CompetingRiskRegression, plan: Plan) -> pd.DataFrame:
    """Fine-Gray and cause-specific Cox rows of one model (each row names its method)."""
    subset = endpoint_causes(data, regression.endpoint, plan)
    factors, reference = list(regression.factors), regression.reference
    try:
        subdistribution = fine_gray(subset, "aval", "cause", regression.cause, factors, reference)
        specific = cox_model(
            subset.assign(_event=(subset["cause"] == regression.cause).astype(int)),
            "aval",
            "_event",
            factors,
            reference,
        )
    except ValueError as error:  # e.g. the planned reference level does not occur in tonight's data
        return pd.DataFrame([{"term": None, "reason": f"not fitted: {error}"}]).assign(
            analysis=regression.name, endpoint=regression.endpoint, cause=regression.cause
        )
    specific["method"] = specific["method"].replace({"cox": "cause_specific_cox"})
    return pd.concat([subdistribution, specific], ignore_index=True).assign(
        analysis=regression.name,
        endpoint=regression.endpoint,
        cause=regression.cause,
        model=" + ".join(factors),
        consolidative_hsct=plan.conventions.consolidative_hsct,
    )

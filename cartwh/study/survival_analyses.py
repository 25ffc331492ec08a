"""The plan's survival analyses on patient-level endpoint data.

Input: one row per patient and endpoint (`marts.time_to_event` joined to the patient
columns the plan groups by), with `aval` in months and `is_event`. Output: the rows of
analytics.km_estimates, survival_tests, landmark_survival, survival_summaries, cutoffs
and follow_up. A patient whose grouping value is missing is left out of that analysis
and counted (`n_missing_group`), never silently folded into another group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwh.stats import cutoffs, survival
from cartwh.study.config import FollowUpAnalysis, Plan, SurvivalAnalysis, ordered

ALL = "All patients"


def _cutoff_groups(data: pd.DataFrame, analysis: SurvivalAnalysis, endpoint: str, plan: Plan):
    """Groups from a continuous predictor: the ROC/Youden cut-off for the endpoint's events
    when its ROC AUC exceeds the plan's minimum, else (or when asked) the median."""
    values = data[analysis.by].to_numpy(dtype=float)
    outcome = data["is_event"].to_numpy(dtype=int)
    choice = cutoffs.choose_cutoff(values, outcome, plan.cutoff_min_roc_auc, method=analysis.cutoff)
    row = dict(
        analysis=analysis.name,
        endpoint=endpoint,
        predictor=analysis.by,
        outcome=f"{endpoint} event",
        requested_method=analysis.cutoff,
        **choice._asdict(),
    )
    if not np.isfinite(choice.cutoff):  # no values at all: nobody can be grouped
        return pd.Series(None, index=data.index, dtype=object), row
    return cutoffs.split_at(data[analysis.by].astype(float), choice.cutoff), row


def _groups(data: pd.DataFrame, analysis: SurvivalAnalysis, endpoint: str, plan: Plan):
    if analysis.by is None:
        return pd.Series(ALL, index=data.index, dtype=object), None
    if analysis.cutoff is not None:
        return _cutoff_groups(data, analysis, endpoint, plan)
    return data[analysis.by].map(lambda v: None if pd.isna(v) else str(v)).astype(object), None


def _group_order(analysis: SurvivalAnalysis, plan: Plan, labels) -> list[str]:
    preferred = analysis.group_order or (plan.group_order if analysis.by == plan.compare_by else None)
    if analysis.cutoff is not None:  # "< c" before "≥ c"
        preferred = sorted(pd.unique(labels), key=lambda g: not str(g).startswith("<"))
    return ordered(labels, preferred)


def _one_group(rows: dict, key: dict, d: np.ndarray, e: np.ndarray, plan: Plan) -> None:
    km = survival.kaplan_meier(d, e)
    rows["km_estimates"].append(km.assign(**key))
    n, events = len(d), int(e.sum())
    for t in plan.landmark_months:
        at = survival.survival_at(d, e, t)
        rows["landmark_survival"].append(dict(**key, landmark_months=t, n=n, events=events, **at._asdict()))
    conventions = plan.conventions
    median = survival.km_median(d, e, conventions.km_quantile, conventions.median_ci)
    mean = survival.km_mean(d, e)
    restricted = survival.rmst(d, e, plan.rmst_tau_months)
    rows["survival_summaries"].append(
        dict(
            **key,
            n=n,
            events=events,
            median_months=median.median,
            median_ci_lower=median.ci_lower,
            median_ci_upper=median.ci_upper,
            median_reason=median.reason,
            median_convention=median.convention,
            median_ci_method=median.ci_method,
            median_se=median.se,
            km_mean_months=mean.mean,
            km_mean_se=mean.se,
            km_mean_ci_lower=mean.ci_lower,
            km_mean_ci_upper=mean.ci_upper,
            km_mean_restricted_to=mean.upper_limit,
            km_mean_reason=mean.reason,
            rmst_tau_months=plan.rmst_tau_months,
            rmst_months=restricted.rmst,
            rmst_se=restricted.se,
            rmst_reason=restricted.reason,
        )
    )


def run_survival(data: pd.DataFrame, analysis: SurvivalAnalysis, plan: Plan, rows: dict) -> None:
    for endpoint in analysis.endpoints:
        subset = data[data["paramcd"] == endpoint]
        if analysis.from_month is not None:
            subset = subset[subset["aval"] >= analysis.from_month]
            subset = subset.assign(aval=subset["aval"] - analysis.from_month)
        groups, cutoff_row = _groups(subset, analysis, endpoint, plan)
        if cutoff_row is not None:
            rows["cutoffs"].append(cutoff_row)
        known = groups.notna()
        order = _group_order(analysis, plan, groups[known])
        d = subset["aval"].to_numpy(dtype=float)
        e = subset["is_event"].to_numpy(dtype=int)
        for position, group in enumerate(order):
            mask = (groups == group).to_numpy()
            key = dict(
                analysis=analysis.name,
                endpoint=endpoint,
                group=group,
                group_order=position,
                time_origin_months=analysis.from_month or 0.0,
            )
            _one_group(rows, key, d[mask], e[mask], plan)
        if analysis.by is None:
            continue
        test = survival.logrank(d[known.to_numpy()], e[known.to_numpy()], groups[known].to_numpy())
        rows["survival_tests"].append(
            dict(
                analysis=analysis.name,
                endpoint=endpoint,
                grouped_by=analysis.by,
                groups=" | ".join(order),
                n=int(known.sum()),
                events=int(e[known.to_numpy()].sum()),
                n_missing_group=int((~known).sum()),
                **test,
            )
        )


def run_follow_up(data: pd.DataFrame, analysis: FollowUpAnalysis, plan: Plan, rows: dict) -> None:
    """Median follow-up by reverse Kaplan-Meier, whole cohort and per group, with both CIs
    (the plan's `median_ci` one in ci_lower/ci_upper)."""
    for endpoint in analysis.endpoints:
        subset = data[data["paramcd"] == endpoint]
        parts = [(ALL, subset)]
        if analysis.by:
            order = ordered(
                subset[analysis.by].dropna().astype(str), plan.group_order if analysis.by == plan.compare_by else None
            )
            parts += [(g, subset[subset[analysis.by].astype(str) == g]) for g in order]
        for group, part in parts:
            result = survival.median_follow_up(
                part["aval"], part["is_event"].astype(int), plan.conventions.km_quantile, plan.conventions.median_ci
            )
            rows["follow_up"].append(
                dict(
                    analysis=analysis.name,
                    endpoint=endpoint,
                    group=group,
                    n=len(part),
                    method="reverse Kaplan-Meier",
                    median_months=result.median,
                    ci_lower=result.ci_lower,
                    ci_upper=result.ci_upper,
                    reason=result.reason,
                    median_convention=result.convention,
                    ci_method=result.ci_method,
                    se=result.se,
                    se_ci_lower=result.se_ci[0],
                    se_ci_upper=result.se_ci[1],
                    band_ci_lower=result.band_ci[0],
                    band_ci_upper=result.band_ci[1],
                )
            )

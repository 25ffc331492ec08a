"""Draw one figure panel of the plan (`figures:` in analyses.yml) from the analytics tables.

A panel is a Kaplan-Meier plot of a survival analysis (with its log-rank p, the median lines,
the hazard ratio of the plan's Cox model of the same grouping and, for a cut-off grouping, the
cut-off used), box plots of table columns by that table's groups (with the table's p-values),
CAR-T kinetics curves by a patient column, or the cumulative incidence of a competing-risk
analysis (one cause by group with Gray's p, or every cause stacked). A panel tonight's
data cannot give (nobody in any group, no measurement, blocked by a failed check) raises
NotEstimable with the reason, which the report prints in the panel's place; a box panel
missing only some of its columns is drawn with those left empty, and says why beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from cartwh.contract.cytometry import DAYS_PER_MONTH
from cartwh.report import figures
from cartwh.report import formatting as fmt
from cartwh.study.blocking import is_blocked
from cartwh.study.config import Plan, ordered
from cartwh.study.survival_analyses import ALL

ENDPOINT_LABELS = {
    "EFS": "Event-free survival",
    "OS": "Overall survival",
    "REL": "Relapse",
    "BCA": "B-cell aplasia",
}
COLUMN_LABELS = {
    "pct_car_of_cd3_at_peak": ("% CAR of CD3+ at peak", False),
    "peak_car_t_per_ul": ("CAR-T/µL at peak", True),
    "auc_14": ("AUC_14 (CAR-T/µL × days)", True),
    "pct_scm_of_cd8_car_t_at_peak": ("SCM % of CD8+ CAR-T at peak", False),
}  # label and whether a log scale reads better


class NotEstimable(ValueError):
    """What a panel would show cannot be computed from tonight's data; the message says why."""


def not_estimable(reason: str) -> str:
    return reason if reason.startswith("not estimable") else f"not estimable: {reason}"


@dataclass(frozen=True)
class Inputs:
    analytics: dict[str, pd.DataFrame]
    patients: pd.DataFrame
    kinetics: pd.DataFrame  # patient_key, study_day, nominal_day, car_t_per_ul


def _labelled(values: pd.Series, column: str, plan: Plan) -> pd.Series:
    return values.map(lambda v: None if pd.isna(v) else plan.label(v, column))


def _p_text(p, test) -> str | None:
    if fmt.missing(p):
        return None
    return f"{test or 'p'}: p {fmt.p_value(p)}" if p < 0.001 else f"{test or 'p'}: p = {fmt.p_value(p)}"


def _km_title(name: str, endpoint: str, plan: Plan, analytics: dict) -> str:
    analysis = plan.survival_analysis(name)
    title = analysis.title
    cut = analytics["cutoffs"].query("analysis == @name and endpoint == @endpoint")
    if len(cut):
        c = cut.iloc[0]
        how = f"ROC AUC {fmt.number(c['auc'])}" if c["method"] == "roc_youden" else "median"
        title += f" (cut-off {fmt.number(c['cutoff'])}, {how})"
    if analysis.from_month:
        title += f"\nlandmark at {_when(analysis.from_month)}: patients event-free then"
    return title


def survival_reason(name: str, endpoint: str, plan: Plan, inputs: Inputs) -> str:
    """Why an analysis has no curve: a check blocked it, nobody has a value to group by, or the
    reason its test or cut-off gives."""
    tests, by = inputs.analytics["survival_tests"], plan.survival_analysis(name).by
    reasons = tests.query("analysis == @name and endpoint == @endpoint")["reason"].tolist() if "reason" in tests else []
    blocked = [r for r in reasons if is_blocked(r)]
    if blocked:
        return blocked[0]
    if by and inputs.patients[by].isna().all():
        return not_estimable(f"no patient has a value of {by}")
    cut = inputs.analytics["cutoffs"]
    reasons += cut.query("analysis == @name and endpoint == @endpoint")["reason"].tolist() if "reason" in cut else []
    given = [r for r in reasons if isinstance(r, str) and r]
    return not_estimable(given[0] if given else f"no patient with an {endpoint} time has a value of {by}")


def km_panel(panel: dict, plan: Plan, inputs: Inputs) -> tuple[Figure, list[str]]:
    name, endpoint = panel["km"], panel["endpoint"]
    km = inputs.analytics["km_estimates"].query("analysis == @name and endpoint == @endpoint")
    if km.empty:
        raise NotEstimable(survival_reason(name, endpoint, plan, inputs))
    order = km.drop_duplicates("group").sort_values("group_order")["group"].tolist()
    test = inputs.analytics["survival_tests"].query("analysis == @name and endpoint == @endpoint")
    p_text = "\n".join(
        filter(
            None,
            [
                _p_text(test["p_value"].iloc[0], "log-rank") if len(test) else None,
                *hazard_ratios(name, endpoint, plan, inputs),
            ],
        )
    )
    summaries = inputs.analytics["survival_summaries"].query("analysis == @name and endpoint == @endpoint")
    return figures.km_figure(
        km,
        title=_km_title(name, endpoint, plan, inputs.analytics),
        endpoint_label=ENDPOINT_LABELS.get(endpoint, endpoint),
        group_order=order,
        group_labels={g: plan.label(g, plan.survival_analysis(name).by) for g in order},
        p_text=p_text,
        at_risk_every=plan.at_risk_every_months,
        xlabel=_time_axis(plan.survival_analysis(name).from_month),
        ci_band=plan.ci_bands,
        medians=dict(zip(summaries["group"], summaries["median_months"], strict=True)),
    ), []


def hazard_ratios(name: str, endpoint: str, plan: Plan, inputs: Inputs) -> list[str]:
    """ "HR <level> vs <reference>: x (95 % CI)" per term of the plan's Cox model of this endpoint on
    exactly this grouping (none for a cut-off or landmark grouping, which no Cox model shares), the
    levels as coded (short: the legend spells them out); Firth's estimate, so named, where the
    partial likelihood has none."""
    analysis = plan.survival_analysis(name)
    if analysis.cutoff or analysis.from_month or not analysis.by:
        return []
    model = next((c for c in plan.cox if c.endpoint == endpoint and c.factors == (analysis.by,)), None)
    rows = inputs.analytics["cox_models"]
    rows = rows[rows["analysis"] == model.name] if model is not None and "analysis" in rows else rows.iloc[:0]
    if "hazard_ratio" not in rows or rows["hazard_ratio"].isna().all():
        return []
    method = "cox" if rows.loc[rows["method"] == "cox", "hazard_ratio"].notna().any() else "firth"
    return [
        f"HR {r.level} vs {r.reference}: {fmt.number(r.hazard_ratio)} ({fmt.interval(r.ci_lower, r.ci_upper)})"
        + (", Firth" if method == "firth" else "")
        for r in rows[rows["method"] == method].itertuples()
    ]


def _time_axis(from_month: float | None) -> str:
    return f"Months after {_when(from_month)}" if from_month else "Months after infusion"


def _when(months: float) -> str:
    """A landmark as clinicians name it: 'day 28', 'month 3'."""
    return f"day {round(months * DAYS_PER_MONTH)}" if months < 2 else f"month {round(months)}"


def box_panel(panel: dict, plan: Plan, inputs: Inputs) -> tuple[Figure, list[str]]:
    """Box plots of the panel's columns. A column blocked by a failed check is drawn empty (its
    values are not shown), as is one nobody has a value of; the notes say why."""
    table = plan.table(panel["box"])
    comparisons = inputs.analytics["group_comparisons"]
    data = inputs.patients.assign(_group=_labelled(inputs.patients[table.by], table.by, plan))
    specs, notes = [], []
    for column in panel["columns"]:
        rows = comparisons.query("analysis == @table.name and variable == @column and subset.isna()")
        label, log_scale = COLUMN_LABELS.get(column, (column, False))
        blocked = [r for r in rows.get("test_reason", []) if is_blocked(r)]
        if blocked or data.loc[data["_group"].notna(), column].isna().all():
            data[column] = None  # a blocked value is not drawn either
            notes.append(f"{label}: {blocked[0]}" if blocked else not_estimable(f"no patient has a value of {label}"))
            specs.append(dict(value=column, ylabel=label, title="not estimable"))
            continue
        p = _p_text(rows["p_value"].iloc[0], fmt.TEST_ABBREVIATIONS.get(rows["test"].iloc[0])) if len(rows) else None
        specs.append(dict(value=column, ylabel=label, log_scale=log_scale, p_text=p))
    if len(notes) == len(specs):
        raise NotEstimable("; ".join(notes))
    order = ordered(data["_group"], [plan.label(g, table.by) for g in table.group_order])
    title = table.title.split(". ", 1)[-1]
    return figures.box_panels(data, panels=specs, group="_group", group_order=order, title=title), notes


def kinetics_panel(panel: dict, plan: Plan, inputs: Inputs) -> tuple[Figure, list[str]]:
    by = panel["kinetics"]
    groups = inputs.patients[["patient_key", by]].assign(group=lambda d: _labelled(d[by], by, plan))
    data = inputs.kinetics.merge(groups[["patient_key", "group"]], on="patient_key")
    if data.dropna(subset=["car_t_per_ul", "study_day", "group"]).empty:
        raise NotEstimable(
            not_estimable(
                f"no CAR-T/µL measurement after infusion of a patient with a value of {by} (marts.car_t_kinetics)"
            )
        )
    order = ordered(data["group"], [plan.label(g, by) for g in plan.group_order] if by == plan.compare_by else [])
    return figures.kinetics_figure(
        data,
        group_order=order,
        title="CAR-T/µL in peripheral blood after infusion",
        day_max=100,
        median_day="nominal_day",
    ), []


def cif_panel(panel: dict, plan: Plan, inputs: Inputs) -> tuple[Figure, list[str]]:
    """One cause's cumulative incidence by the analysis's groups with Gray's p, or (``stacked``)
    every cause of all patients stacked."""
    analysis = plan.competing_risk_analysis(panel["cif"])
    cif = inputs.analytics["cumulative_incidence"]
    cif = cif[cif["analysis"] == analysis.name] if "analysis" in cif else cif
    tests = inputs.analytics["competing_risk_tests"]
    tests = tests[tests["analysis"] == analysis.name] if "analysis" in tests else tests
    xlabel = fmt.months_after(analysis.endpoint)
    if panel.get("stacked"):
        everyone = cif[cif["group"] == ALL] if len(cif) else cif
        if everyone.empty:
            raise NotEstimable(_competing_reason(analysis, tests))
        return figures.stacked_cif_figure(
            everyone,
            title=f"{analysis.title}: all patients",
            cause_order=list(analysis.causes),
            cause_labels=analysis.causes,
            at_risk_every=plan.at_risk_every_months,
            xlabel=xlabel,
        ), []
    cause = panel["cause"]
    shown = cif[(cif["cause"] == cause) & ((cif["group"] != ALL) if analysis.by else True)] if len(cif) else cif
    test = tests[tests["cause"] == cause] if "cause" in tests else tests
    if shown.empty:
        raise NotEstimable(_competing_reason(analysis, tests, cause))
    order = shown.drop_duplicates("group").sort_values("group_order")["group"].tolist()
    return figures.cif_figure(
        shown,
        title=analysis.causes[cause],
        group_order=order,
        group_labels={g: plan.label(g, analysis.by) for g in order},
        p_text=_p_text(test["p_value"].iloc[0], "Gray's test") if len(test) and "p_value" in test else None,
        at_risk_every=plan.at_risk_every_months,
        xlabel=xlabel,
    ), [n for n in test["reason"].dropna()] if "reason" in test else []


def _competing_reason(analysis, tests: pd.DataFrame, cause: str | None = None) -> str:
    """Why a competing-risk panel has nothing to draw: the analysis's own reason (a failed check, no
    patient), else the cause's."""
    tests = tests.reindex(columns=["cause", "reason"])
    reasons = tests.loc[tests["cause"].isna() | (tests["cause"] == cause), "reason"].dropna().tolist()
    return not_estimable(reasons[0] if reasons else f"no patient has a {analysis.endpoint} row")


def draw_panel(panel: dict, plan: Plan, inputs: Inputs) -> tuple[Figure, list[str]]:
    """The panel's figure and notes on what it leaves out; NotEstimable when nothing can be drawn."""
    if "km" in panel:
        return km_panel(panel, plan, inputs)
    if "cif" in panel:
        return cif_panel(panel, plan, inputs)
    if "box" in panel:
        return box_panel(panel, plan, inputs)
    return kinetics_panel(panel, plan, inputs)

"""Pivot analytics.group_comparisons back into the paper's table layout."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cartwh.report import formatting as fmt
from cartwh.stats.conventions import CONSOLIDATIVE_HSCT_CHOICES, CUMULATIVE_INCIDENCE_CONVENTIONS, REGRESSION_METHODS
from cartwh.study.blocking import is_blocked
from cartwh.study.config import CompetingRiskAnalysis, Plan
from cartwh.study.group_comparisons import TOTAL
from cartwh.study.survival_analyses import ALL


@dataclass
class DisplayRow:
    label: str
    cells: list[str] = field(default_factory=list)
    p: str = ""
    test: str = ""
    style: str = ""  # "heading" | "level" | ""
    note: str = ""  # printed across the group columns instead of cells: why the row is not estimable


@dataclass
class DisplayTable:
    name: str
    title: str
    header: list[str]
    rows: list[DisplayRow]
    notes: list[str] = field(default_factory=list)  # how each test (and KM median) was computed


def _cell(r) -> str:
    kind = r["kind"]
    if kind in {"count", "levels"}:
        return f"{int(r['count'])} ({fmt.percent(r['percent'])})" if r["n"] else "–"
    if kind == "km_median":
        return fmt.median_with_ci(r["median"], r["ci_lower"], r["ci_upper"], r["median_ci_method"]) if r["n"] else "–"
    if not r["n"]:
        return "–"
    low, high = (r["minimum"], r["maximum"]) if kind == "median_range" else (r["ci_lower"], r["ci_upper"])
    spread = "n < 6" if fmt.missing(low) else fmt.interval(low, high)
    return f"{fmt.number(r['median'])} ({spread})"


def _test(first, mixed: set[str]) -> tuple[str, str]:
    """p and the test's abbreviation, with the method when the table uses more than one for it."""
    if fmt.missing(first["p_value"]):
        return "", "" if first["test_reason"] == "descriptive row: no test planned" else "n.e."
    name = fmt.TEST_ABBREVIATIONS.get(first["test"], first["test"])
    return fmt.p_value(first["p_value"]), f"{name} ({first['test_method']})" if first["test"] in mixed else name


def _notes(rows: pd.DataFrame) -> tuple[list[str], set[str]]:
    """One footnote per test and method used in the table (and for its KM medians), and the
    tests that ran with more than one method."""
    used = rows.dropna(subset=["test", "p_value"]).drop_duplicates(["test", "test_method"])
    notes = [
        f"{fmt.TEST_ABBREVIATIONS.get(r.test, r.test)}: {r.test}, {fmt.method_note(r.test, r.test_method)}"
        for r in used.itertuples()
    ]
    mixed = set(used["test"][used["test"].duplicated()])
    medians = rows[rows["kind"] == "km_median"].drop_duplicates(["median_convention", "median_ci_method"])
    notes += [
        fmt.km_median_note(r.median_convention, r.median_ci_method)
        for r in medians.itertuples()
        if isinstance(r.median_convention, str)
    ]
    return notes, mixed


def _not_estimable(first, item: pd.DataFrame) -> str | None:
    """Why a table row prints no numbers: a check blocked it, or no patient has a value."""
    if is_blocked(first.get("test_reason")):
        return first["test_reason"]
    if first["kind"] not in {"heading", "km_median"} and (item["n"] == 0).all():
        return f"not estimable: no patient has a value of {first['variable']}"
    return None


def display_table(rows: pd.DataFrame, plan: Plan, group_sizes: dict[str, int]) -> DisplayTable:
    """`rows`: analytics.group_comparisons of one analysis; `group_sizes`: patients per group."""
    rows = rows.sort_values(["row_number", "group_order"], kind="stable")
    groups = rows.dropna(subset=["group"]).drop_duplicates("group_order").sort_values("group_order")["group"]
    by = rows["grouped_by"].iloc[0]
    header = [f"{plan.label(g, by)} (N = {group_sizes.get(g, 0)})" for g in groups]
    for column in ("test", "test_method", "p_value", "median_convention", "median_ci_method"):
        rows = rows if column in rows else rows.assign(**{column: None})
    notes, mixed = _notes(rows)
    out = []
    for _, item in rows.groupby("row_number", sort=True):
        first = item.iloc[0]
        note = _not_estimable(first, item)
        if note:
            out.append(DisplayRow(first["label"], note=note))
            continue
        if first["kind"] == "heading":
            out.append(DisplayRow(first["label"], style="heading"))
            continue
        p, test = _test(first, mixed)
        if first["kind"] == "levels":
            out.append(DisplayRow(first["label"], p=p, test=test))
            for level, cells in item.groupby("level", sort=False):
                out.append(
                    DisplayRow(
                        plan.label(level, first["variable"]), [_cell(r) for _, r in cells.iterrows()], style="level"
                    )
                )
        else:
            out.append(DisplayRow(first["label"], [_cell(r) for _, r in item.iterrows()], p, test))
    top = rows.iloc[0]
    return DisplayTable(top["analysis"], top["table_title"], ["Characteristic", *header, "p", "test"], out, notes)


def group_sizes(patients: pd.DataFrame, by: str) -> dict[str, int]:
    return patients[by].astype(str).value_counts().to_dict() | {TOTAL: len(patients)}


def competing_risk_table(
    analysis: CompetingRiskAnalysis, plan: Plan, landmarks: pd.DataFrame, tests: pd.DataFrame
) -> DisplayTable:
    """The cumulative incidence of each cause at the landmark months, per group and for all
    patients (the paper's "Total"), with Gray's p: one row per cause and landmark."""
    rows = landmarks[landmarks["analysis"] == analysis.name] if "analysis" in landmarks else landmarks.iloc[:0]
    tests = tests[tests["analysis"] == analysis.name] if "analysis" in tests else tests.iloc[:0]
    groups = [g for g in rows.sort_values("group_order")["group"].drop_duplicates() if g != ALL] + [ALL]
    sizes = rows.drop_duplicates("group").set_index("group")["n"].to_dict() if len(rows) else {}
    header = [
        f"{plan.label(g, analysis.by) if g != ALL else TOTAL} (N = {int(sizes.get(g, 0))})"
        for g in groups
        if g in sizes
    ]
    whole = tests.reindex(columns=["cause", "reason"])
    whole = whole.loc[whole["cause"].isna(), "reason"].dropna().tolist()  # blocked, or no patient at all
    out = [DisplayRow(analysis.title, note=whole[0])] if whole else []
    for cause, label in analysis.causes.items() if not whole else ():
        test = tests[tests["cause"] == cause] if "cause" in tests else tests.iloc[:0]
        cells = rows[rows["cause"] == cause] if len(rows) else rows
        if cells.empty:
            reasons = test["reason"].dropna().tolist() if "reason" in test else []
            out.append(DisplayRow(label, note=reasons[0] if reasons else "not estimable: no patient"))
            continue
        for t, at in cells.groupby("landmark_months", sort=True):
            at = at.set_index("group")
            shown = [g for g in groups if g in at.index]
            p = fmt.p_value(test["p_value"].iloc[0]) if len(test) and "p_value" in test else ""
            out.append(
                DisplayRow(
                    f"{label}, {fmt.number(t)} months",
                    [_incidence_cell(at.loc[g]) for g in shown],
                    p,
                    "Gray" if p else ("n.e." if analysis.by else ""),
                )
            )
    c = plan.conventions
    note = (
        f"Cumulative incidence % (95 % CI) [patients with the event]: {CUMULATIVE_INCIDENCE_CONVENTIONS[c.cumulative_incidence]}; "
        f"every other cause competes, and {CONSOLIDATIVE_HSCT_CHOICES[c.consolidative_hsct]}"
    )
    if analysis.by:
        note += "; Gray: Gray's test of equal cumulative incidence of the cause between the groups, " + fmt.method_note(
            "Gray's test", "asymptotic"
        )
    title = f"{analysis.title}: cumulative incidence by cause ({fmt.months_after(analysis.endpoint).lower()})"
    return DisplayTable(analysis.name, title, ["Cause, time", *header, "p", "test"], out, [note])


def _incidence_cell(at: pd.Series) -> str:
    """'34.2 % (15.8–53.6) [9]': the incidence, its CI and the patients with the event."""
    text = fmt.incidence_percent(at["estimate"], at["ci_lower"], at["ci_upper"])
    return text if at["estimate"] == 0 or fmt.missing(at["estimate"]) else f"{text} [{int(at['events'])}]"


_REGRESSION_COLUMNS = [
    "analysis",
    "method",
    "model",
    "endpoint",
    "cause",
    "term",
    "factor",
    "level",
    "reference",
    "hazard_ratio",
    "ci_lower",
    "ci_upper",
    "p_value",
    "n",
    "events",
    "competing_events",
    "likelihood_ratio_statistic",
    "likelihood_ratio_df",
    "likelihood_ratio_p",
    "score_statistic",
    "score_p",
    "reason",
]


def _term(r, plan: Plan) -> str:
    term = (
        plan.label(r.level, r.factor) if not fmt.missing(r.level) else (r.factor if isinstance(r.factor, str) else "")
    )
    return term + (f" vs {plan.label(r.reference, r.factor)}" if not fmt.missing(r.reference) else "")


def regression_rows(models: pd.DataFrame, plan: Plan) -> tuple[list[dict], list[str]]:
    """analytics.cox_models or competing_risk_models as printed: per term and method the hazard
    ratio with its CI and p, the model's tests once per model and method, and a footnote per
    method used."""
    models = models.reindex(columns=_REGRESSION_COLUMNS)
    out = []
    for (_, method), rows in models.groupby(["analysis", "method"], sort=False, dropna=False):
        for first, r in zip([True] + [False] * (len(rows) - 1), rows.itertuples(), strict=True):
            cause = f", {r.cause}" if isinstance(r.cause, str) else ""
            tests = [
                fmt.chi_square_test("LR", r.likelihood_ratio_statistic, r.likelihood_ratio_df, r.likelihood_ratio_p),
                fmt.chi_square_test("score", r.score_statistic, r.likelihood_ratio_df, r.score_p),
            ]
            out.append(
                dict(
                    model=f"{r.model} ({r.endpoint}{cause})" if first else "",
                    term=_term(r, plan),
                    method=fmt.METHOD_LABELS.get(method, "") if isinstance(method, str) else "",
                    hazard_ratio="not estimable"
                    if fmt.missing(r.hazard_ratio)
                    else f"{fmt.number(r.hazard_ratio)} ({fmt.interval(r.ci_lower, r.ci_upper)})",
                    p=fmt.p_value(r.p_value),
                    counts=" / ".join(str(int(v)) for v in (r.n, r.events, r.competing_events) if not fmt.missing(v)),
                    tests="; ".join(t for t in tests if t) if first else "",
                    note=r.reason if isinstance(r.reason, str) else "",
                )
            )
    used = [m for m in REGRESSION_METHODS if m in set(models["method"].dropna())]
    return out, [f"{fmt.METHOD_LABELS[m]}: {REGRESSION_METHODS[m]}" for m in used]

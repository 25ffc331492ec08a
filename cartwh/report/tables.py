"""Pivot analytics.group_comparisons back into the paper's table layout."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cartwh.report import formatting as fmt
from cartwh.study.blocking import is_blocked
from cartwh.study.config import Plan
from cartwh.study.group_comparisons import TOTAL


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

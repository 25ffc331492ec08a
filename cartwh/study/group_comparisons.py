"""Group comparisons laid out as the paper's tables (analytics.group_comparisons).

One output row per table row x level x group (the plan's groups, then "Total"), in long
format so analysts can query it and the report can pivot it back into the paper's layout.
The test and p-value of a table row are repeated on each of its output rows; which test
ran follows the rule of docs/definitions.md "Statistics" (`cartwh.stats.comparisons`), and how (`test_method`) the plan's
`conventions`. Percentages use the patients
with a known value as denominator; the missing ones are counted beside them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwh.stats import comparisons, survival
from cartwh.study.config import Conventions, TableRow, TableSpec

TOTAL = "Total"
NO_TEST = comparisons.TestResult(None, np.nan, np.nan, "descriptive row: no test planned")


def _test_fields(result: comparisons.TestResult) -> dict:
    return dict(
        test=result.test,
        test_method=result.method,
        statistic=result.statistic,
        p_value=result.p_value,
        test_reason=result.reason,
    )


def _indicator(values: pd.Series, level) -> pd.Series:
    """True/False per patient (NaN where unknown): the value is true, or equals `level`."""
    known = values.notna()
    hit = values.astype(str) == str(level) if level is not None else values.astype("boolean").fillna(False).astype(bool)
    return hit.where(known)


def _count_rows(row: TableRow, groups: dict[str, pd.Series], conventions: Conventions):
    flags = {g: _indicator(v, row.level) for g, v in groups.items()}
    table = [[(f == True).sum(), (f == False).sum()] for g, f in flags.items() if g != TOTAL]  # noqa: E712
    result = NO_TEST if row.test == "none" else comparisons.compare_counts(table, conventions.chi_square)
    for g, f in flags.items():
        n = int(f.notna().sum())
        count = int((f == True).sum())  # noqa: E712
        yield (
            dict(
                level=None if row.level is None else str(row.level),
                group=g,
                n=n,
                n_missing=int(f.isna().sum()),
                count=count,
                percent=100 * count / n if n else np.nan,
            ),
            result,
        )


def _levels_rows(row: TableRow, groups: dict[str, pd.Series], conventions: Conventions):
    present = sorted(set().union(*(set(v.dropna().astype(str)) for v in groups.values())))
    levels = [str(x) for x in row.levels] if row.levels else present
    levels += [x for x in present if x not in levels]  # an unplanned value still shows
    table = [[(v.astype(str) == lev).sum() for lev in levels] for g, v in groups.items() if g != TOTAL]
    result = NO_TEST if row.test == "none" else comparisons.compare_counts(table, conventions.chi_square)
    for level in levels:
        for g, v in groups.items():
            n = int(v.notna().sum())
            count = int((v.dropna().astype(str) == level).sum())
            yield (
                dict(
                    level=level,
                    group=g,
                    n=n,
                    n_missing=int(v.isna().sum()),
                    count=count,
                    percent=100 * count / n if n else np.nan,
                ),
                result,
            )


def _median_rows(row: TableRow, groups: dict[str, pd.Series], conventions: Conventions):
    compared = [v.to_numpy(dtype=float) for g, v in groups.items() if g != TOTAL]
    test = comparisons.compare_values
    result = NO_TEST if row.test == "none" else test(*compared, mann_whitney_method=conventions.mann_whitney)
    for g, v in groups.items():
        s = comparisons.median_summary(v.to_numpy(dtype=float))
        yield (
            dict(
                group=g,
                n=s.n,
                n_missing=int(v.isna().sum()),
                median=s.median,
                minimum=s.minimum,
                maximum=s.maximum,
                ci_lower=s.ci_lower,
                ci_upper=s.ci_upper,
            ),
            result,
        )


def _logrank_result(data: pd.DataFrame, labels) -> comparisons.TestResult:
    test = survival.logrank(data["aval"], data["is_event"].astype(int), labels)
    method = None if test["reason"] else comparisons.ASYMPTOTIC  # chi-square approximation
    return comparisons.TestResult(test["test"], test["statistic"], test["p_value"], test["reason"], method)


def _km_median_rows(row: TableRow, members: dict[str, pd.DataFrame], tte: pd.DataFrame, conventions: Conventions):
    data = tte[tte["paramcd"] == row.endpoint].set_index("patient_key")
    group_of = {key: g for g, m in members.items() if g != TOTAL for key in m["patient_key"]}
    compared = data[data.index.isin(list(group_of))]
    result = NO_TEST if row.test == "none" else _logrank_result(compared, compared.index.map(group_of))
    for g, m in members.items():
        part = data[data.index.isin(m["patient_key"])]
        median = survival.km_median(
            part["aval"], part["is_event"].astype(int), conventions.km_quantile, conventions.median_ci
        )
        yield (
            dict(
                group=g,
                n=len(part),
                n_missing=len(m) - len(part),
                count=int(part["is_event"].sum()),
                median=median.median,
                ci_lower=median.ci_lower,
                ci_upper=median.ci_upper,
                value_reason=median.reason,
                median_convention=median.convention,
                median_ci_method=median.ci_method,
            ),
            result,
        )


def _members(cohort: pd.DataFrame, spec: TableSpec) -> dict[str, pd.DataFrame]:
    """The cohort's patients in each group of the table, and all of them (TOTAL)."""
    labels = cohort[spec.by].astype(str)
    return {g: cohort[labels == g] for g in spec.group_order} | {TOTAL: cohort}


def comparison_rows(
    spec: TableSpec, patients: pd.DataFrame, tte: pd.DataFrame, conventions: Conventions = Conventions()
) -> pd.DataFrame:
    out, groups_of = [], {}
    for number, row in enumerate(spec.rows, start=1):
        base = dict(
            analysis=spec.name,
            table_title=spec.title,
            row_number=number,
            label=row.label,
            kind=row.kind,
            variable=row.column or row.endpoint,
            grouped_by=spec.by,
            subset=row.where,
        )
        if row.kind == "heading":
            out.append(base)
            continue
        if row.where not in groups_of:  # a table's rows mostly share their subset: split it once
            groups_of[row.where] = _members(patients.query(row.where) if row.where else patients, spec)
        members = groups_of[row.where]
        if row.kind == "km_median":
            produced = _km_median_rows(row, members, tte, conventions)
        else:
            groups = {g: m[row.column] for g, m in members.items()}
            make = {"count": _count_rows, "levels": _levels_rows}.get(row.kind, _median_rows)
            produced = make(row, groups, conventions)
        order = {g: i for i, g in enumerate([*spec.group_order, TOTAL])}
        for fields, result in produced:
            out.append(base | fields | {"group_order": order[fields["group"]]} | _test_fields(result))
    return pd.DataFrame(out)

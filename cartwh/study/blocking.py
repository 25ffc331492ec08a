"""Which analyses a failed blocking check blocks, and how a blocked analysis is recorded.

A blocking expectation that names what it `blocks` (expectations/suites/*.yml: the
`marts.patients` columns whose values it vouches for) does not stop the run: it blocks the
analyses, table rows and figure panels of the plan that read one of those columns, and the
rest run. The plan runs whole; then every blocked item's numbers are replaced by one row in
the analytics table it fills, with the reason "not estimable: blocked by <suite>
<expectation>(<column>) (<why>)", so what a failed check vouches against is never stored,
and analysts and the report see what is missing and why. A blocking expectation without `blocks`
stops everything downstream in Dagster and never reaches this module.

What an analysis reads is derived from the plan itself (`by`, `factors`, a row's `column`
and `where`), so a new analysis is scoped without declaring anything. Figure panels follow
what they draw: a Kaplan-Meier panel its survival analysis, a box panel its table's rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from cartwh.study.config import (
    CompetingRiskAnalysis,
    CompetingRiskRegression,
    CoxAnalysis,
    FollowUpAnalysis,
    Plan,
    SurvivalAnalysis,
    TableRow,
    TableSpec,
)
from cartwh.study.survival_analyses import ALL
from cartwh.warehouse.schema import has_table

BLOCKED_PREFIX = "not estimable: blocked by "
# Failed blocking expectations of one run that block only some columns.
FAILED_SCOPED = """
    SELECT suite, expectation, column_name, why, observed, unexpected_count, blocks FROM quality.expectation_results
    WHERE run_id = ? AND NOT success AND severity = 'blocking' AND blocks IS NOT NULL
    ORDER BY suite, column_name, expectation
"""


@dataclass(frozen=True)
class Blocks:
    """marts.patients column -> why analyses reading it are not estimable tonight."""

    reasons: dict[str, str] = field(default_factory=dict)

    def reason(self, columns) -> str | None:
        return next((self.reasons[c] for c in columns if c in self.reasons), None)


NO_BLOCKS = Blocks()


def blocked_reason(
    suite: str, expectation: str, column: str, why: str, observed: str | None = None, unexpected: int | None = None
) -> str:
    """The reason a blocked item prints: the check, why it matters, and what it found (an
    aggregate over a column without values, e.g. no pre-LD labs at all, finds nothing to check)."""
    if unexpected:
        found = f"; {unexpected} unexpected value(s)"
    else:
        found = f"; observed {observed}" if observed not in (None, "None") else "; no value to check"
    return f"{BLOCKED_PREFIX}{suite} {expectation}({column}) ({why}{found})"


def is_blocked(reason) -> bool:
    return isinstance(reason, str) and reason.startswith(BLOCKED_PREFIX)


def read_blocks(con: duckdb.DuckDBPyConnection, run_id: str) -> Blocks:
    """The columns blocked by the checks of run `run_id` (the first failure per column names it)."""
    if not has_table(con, "quality.expectation_results"):
        return NO_BLOCKS
    reasons: dict[str, str] = {}
    failed = con.execute(FAILED_SCOPED, [run_id]).fetchall()
    for suite, expectation, column, why, observed, unexpected, blocks in failed:
        for blocked in blocks.split(","):
            reasons.setdefault(blocked, blocked_reason(suite, expectation, column, why, observed, unexpected))
    return Blocks(reasons)


def survival_columns(analysis: SurvivalAnalysis | FollowUpAnalysis | CompetingRiskAnalysis) -> list[str]:
    return [analysis.by] if analysis.by else []


def cox_columns(analysis: CoxAnalysis | CompetingRiskRegression) -> list[str]:
    return list(analysis.factors)


def row_columns(spec: TableSpec, row: TableRow) -> list[str]:
    """The table's grouping column, the row's column and every name its `where` mentions."""
    where = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", row.where or "")
    return [spec.by, *([row.column] if row.column else []), *where]


# Rows of a blocked table row that stay: what names the row and the group, not its numbers.
_ROW_IDENTITY = [
    "analysis",
    "table_title",
    "row_number",
    "label",
    "kind",
    "variable",
    "grouped_by",
    "subset",
    "group",
    "group_order",
]
_SURVIVAL_TABLES = ("km_estimates", "survival_tests", "landmark_survival", "survival_summaries", "cutoffs")
_COMPETING_TABLES = ("cumulative_incidence", "competing_risk_landmarks", "competing_risk_tests")


def _without(frame: pd.DataFrame, names: set[str]) -> pd.DataFrame:
    return frame[~frame["analysis"].isin(names)] if len(frame) else frame


def _with_reasons(frame: pd.DataFrame, rows: list[dict]) -> pd.DataFrame:
    """`frame` with one row per blocked analysis (and endpoint) appended: the reason, no numbers."""
    return pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)


def _blocked_rows(comparisons: pd.DataFrame, plan: Plan, blocks: Blocks) -> pd.DataFrame:
    """Table rows reading a blocked column keep one row per group, the reason instead of numbers."""
    reasons = {
        (t.name, number): reason
        for t in plan.tables
        for number, row in enumerate(t.rows, start=1)
        if row.kind != "heading" and (reason := blocks.reason(row_columns(t, row)))
    }
    if not reasons or comparisons.empty:
        return comparisons
    key = list(zip(comparisons["analysis"], comparisons["row_number"], strict=True))
    hit = pd.Series([k in reasons for k in key], index=comparisons.index)
    blocked = comparisons.loc[hit, _ROW_IDENTITY].drop_duplicates(["analysis", "row_number", "group"])
    reason = [reasons[k] for k in zip(blocked["analysis"], blocked["row_number"], strict=True)]
    blocked = blocked.assign(test_reason=reason, value_reason=reason)
    return pd.concat([comparisons[~hit], blocked]).sort_values(
        ["analysis", "row_number", "group_order"], kind="stable", ignore_index=True
    )


def apply_blocks(frames: dict[str, pd.DataFrame], plan: Plan, blocks: Blocks) -> dict[str, pd.DataFrame]:
    """The analytics tables with every blocked analysis's numbers replaced by its reason: what a
    failed check vouches against is never stored, shown or published."""
    if not blocks.reasons:
        return frames
    out = dict(frames)
    survival = {a.name: r for a in plan.survival if (r := blocks.reason(survival_columns(a)))}
    for name in _SURVIVAL_TABLES:
        out[name] = _without(out[name], set(survival))
    out["survival_tests"] = _with_reasons(
        out["survival_tests"],
        [
            dict(analysis=a.name, endpoint=e, grouped_by=a.by, reason=survival[a.name])
            for a in plan.survival
            if a.name in survival
            for e in a.endpoints
        ],
    )
    follow = {a.name: r for a in plan.follow_up if (r := blocks.reason(survival_columns(a)))}
    out["follow_up"] = _with_reasons(
        _without(out["follow_up"], set(follow)),
        [
            dict(analysis=a.name, endpoint=e, group=ALL, reason=follow[a.name])
            for a in plan.follow_up
            if a.name in follow
            for e in a.endpoints
        ],
    )
    cox = {a.name: r for a in plan.cox if (r := blocks.reason(cox_columns(a)))}
    out["cox_models"] = _with_reasons(
        _without(out["cox_models"], set(cox)),
        [
            dict(analysis=a.name, endpoint=a.endpoint, model=" + ".join(a.factors), term=None, reason=cox[a.name])
            for a in plan.cox
            if a.name in cox
        ],
    )
    competing = {a.name: r for a in plan.competing_risks if (r := blocks.reason(survival_columns(a)))}
    for name in _COMPETING_TABLES:
        out[name] = _without(out[name], set(competing))
    out["competing_risk_tests"] = _with_reasons(
        out["competing_risk_tests"],
        [
            dict(analysis=a.name, endpoint=a.endpoint, reason=competing[a.name])
            for a in plan.competing_risks
            if a.name in competing
        ],
    )
    regression = {a.name: r for a in plan.competing_risk_regression if (r := blocks.reason(cox_columns(a)))}
    out["competing_risk_models"] = _with_reasons(
        _without(out["competing_risk_models"], set(regression)),
        [
            dict(
                analysis=a.name,
                endpoint=a.endpoint,
                cause=a.cause,
                model=" + ".join(a.factors),
                reason=regression[a.name],
            )
            for a in plan.competing_risk_regression
            if a.name in regression
        ],
    )
    out["group_comparisons"] = _blocked_rows(out["group_comparisons"], plan, blocks)
    return out

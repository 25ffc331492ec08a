"""Which analyses a failed blocking check blocks, and how a blocked analysis is recorded.

A blocking expectation that names what it `blocks` (expectations/suites/*.yml: the
`marts.patients` columns whose values it vouches for) does not stop the run: it blocks the
analyses, table rows and figure panels of the plan that read one of those columns, and the
rest run. Each blocked item still gets its row in the analytics table it would have filled,
with the reason "not estimable: blocked by <suite> <expectation>(<column>) (<why>)", so
analysts and the report see what is missing and why. A blocking expectation without `blocks`
stops everything downstream in Dagster and never reaches this module.

What an analysis reads is derived from the plan itself (`by`, `factors`, a row's `column`,
its `where`, a panel's columns), so a new analysis is scoped without declaring anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from cartwh.study.config import CoxAnalysis, FollowUpAnalysis, Plan, SurvivalAnalysis, TableRow, TableSpec

BLOCKED_PREFIX = "not estimable: blocked by "
# Failed blocking expectations of one run that block only some columns.
FAILED_SCOPED = """
    SELECT suite, expectation, column_name, why, observed, blocks FROM quality.expectation_results
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


def blocked_reason(suite: str, expectation: str, column: str, why: str, observed: str | None = None) -> str:
    seen = f"; observed {observed}" if observed is not None else ""
    return f"{BLOCKED_PREFIX}{suite} {expectation}({column}) ({why}{seen})"


def is_blocked(reason) -> bool:
    return isinstance(reason, str) and reason.startswith(BLOCKED_PREFIX)


def read_blocks(con: duckdb.DuckDBPyConnection, run_id: str) -> Blocks:
    """The columns blocked by the checks of run `run_id` (the first failure per column names it)."""
    if not con.execute("SELECT 1 FROM duckdb_tables() WHERE schema_name = 'quality' AND table_name = 'expectation_results'").fetchall():
        return NO_BLOCKS
    reasons: dict[str, str] = {}
    for suite, expectation, column, why, observed, blocks in con.execute(FAILED_SCOPED, [run_id]).fetchall():
        for blocked in blocks.split(","):
            reasons.setdefault(blocked, blocked_reason(suite, expectation, column, why, observed))
    return Blocks(reasons)


def survival_columns(analysis: SurvivalAnalysis | FollowUpAnalysis) -> list[str]:
    return [analysis.by] if analysis.by else []


def cox_columns(analysis: CoxAnalysis) -> list[str]:
    return list(analysis.factors)


def row_columns(spec: TableSpec, row: TableRow) -> list[str]:
    """The table's grouping column, the row's column and every name its `where` mentions."""
    where = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", row.where or "")
    return [spec.by, *([row.column] if row.column else []), *where]


def panel_columns(panel: dict, plan: Plan) -> list[str]:
    if "km" in panel:
        return survival_columns(plan.survival_analysis(panel["km"]))
    if "box" in panel:
        return [plan.table(panel["box"]).by, *panel["columns"]]
    return [panel["kinetics"]]


def blocked_survival_rows(analysis: SurvivalAnalysis, reason: str) -> list[dict]:
    """analytics.survival_tests rows of a blocked survival analysis, one per endpoint."""
    return [dict(analysis=analysis.name, endpoint=endpoint, grouped_by=analysis.by, reason=reason)
            for endpoint in analysis.endpoints]  # fmt: skip


def blocked_follow_up_rows(analysis: FollowUpAnalysis, reason: str, group: str) -> list[dict]:
    return [dict(analysis=analysis.name, endpoint=endpoint, group=group, reason=reason) for endpoint in analysis.endpoints]

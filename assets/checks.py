"""Data-quality asset checks: one per suite in `expectations/suites/`, attached to the table it
guards. A suite with a blocking expectation is a blocking check: when one of those that blocks
everything fails, the check fails with severity ERROR and the run does not materialize what
lies downstream (the statistics and the report), and the check says why. When only blocking
expectations with a `blocks` scope failed, the check fails with severity WARN: the statistics
run, and leave out (marked "not estimable: blocked by ...") the analyses that read those
columns. The source-health check blocks everything on the findings that block (a broken source);
one that only warns (a re-export that lost tubes' values) fails it with severity WARN. The validating lives in
`expectations`; this module only wires it. The data-quality pages are written once per run, at
its end, by the warehouse resource (assets/resources.py), not by each check. (No `from __future__ import annotations`: Dagster
reads the annotations at definition time.)"""

from functools import cache
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.resources import DataQuality
from expectations.results import check_suite
from expectations.source_health import MART_DRIVERS, source_health, store_findings
from expectations.suites import Suite, all_suites
from expectations.validate import SuiteOutcome

FAILURES_SHOWN = 10


def _key(path: str) -> dg.AssetKey:
    return dg.AssetKey(path.split("/"))


def _scope(expectation) -> str:
    return f" (only analyses of {', '.join(expectation.blocks)})" if expectation.blocks else ""


def check_result(outcome: SuiteOutcome) -> dg.AssetCheckResult:
    failed = outcome.failed
    lines = [
        f"{o.expectation.severity.upper()}{_scope(o.expectation)} {o.expectation.type}({o.expectation.column}): "
        f"{o.unexpected_count if o.unexpected_count is not None else o.observed} unexpected; {o.expectation.why}"
        for o in failed[:FAILURES_SHOWN]
    ]
    return dg.AssetCheckResult(
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.blocks_everything else dg.AssetCheckSeverity.WARN,
        description="; ".join(lines) if lines else None,
        metadata={
            "rows_validated": outcome.rows_validated,
            "expectations": len(outcome.outcomes),
            "failed_blocking": sum(o.expectation.severity == "blocking" for o in failed),
            "failed_warn": sum(o.expectation.severity == "warn" for o in failed),
            "failures": dg.MetadataValue.md("\n".join(f"- {line}" for line in lines) or "none"),
        },
    )


def _asset_check(suite: Suite) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=_key(suite.guards),
        name=suite.name,
        blocking=suite.blocking,
        additional_deps=[_key(n) for n in suite.needs],
        description=f"Great Expectations suite expectations/suites/{suite.name}.yml ({suite.scope})",
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource, data_quality: DataQuality):
        with warehouse.get_connection() as con:
            outcome = check_suite(con, suite, Path(data_quality.gx_root), context.op_execution_context.run_id)
        return check_result(outcome)

    return _check


# The raw tables it reads. The other marts it reads are built by the same dbt step as marts/patients;
# naming them as deps would order this check after their own checks, which need marts/patients.
SOURCE_HEALTH_READS = sorted({t for tables in MART_DRIVERS.values() for t in tables})


@dg.asset_check(
    asset=dg.AssetKey(["marts", "patients"]),
    name="source_health",
    blocking=True,
    additional_deps=[dg.AssetKey(t.split(".")) for t in SOURCE_HEALTH_READS],
    description="Source health (expectations/source_health.py): a file that could not be read, a file of "
    "real size (or a site, or a source) mostly or wholly quarantined, an export that landed nothing, an empty "
    "mart, a site's patients vanished, a source folder holding no file it reads: blocks the statistics. "
    "A re-export that lost tubes' values: warns.",
)
def source_health_check(context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource):
    with warehouse.get_connection() as con:
        findings = source_health(con)
        store_findings(con, findings, context.op_execution_context.run_id)
    findings = sorted(findings, key=lambda f: not f.blocking)  # what blocks first
    return dg.AssetCheckResult(
        passed=not findings,
        severity=dg.AssetCheckSeverity.ERROR if any(f.blocking for f in findings) else dg.AssetCheckSeverity.WARN,
        description="; ".join(f.message for f in findings[:FAILURES_SHOWN]) or None,
        metadata={"findings": len(findings), "subjects": ", ".join(f.subject for f in findings) or "none"},
    )


@cache
def quality_checks() -> tuple[dg.AssetChecksDefinition, ...]:
    """A check per suite of expectations/suites/ (read when the definitions are built, not when this
    module is imported), and the source-health check."""
    return (*[_asset_check(suite) for suite in all_suites()], source_health_check)

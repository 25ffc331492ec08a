"""Check results kept in the warehouse (schema `quality`), so the data-quality report can say
what failed per batch and per patient, and what changed since the previous run.

- quality.expectation_results: one row per run x suite x expectation (counts, severity, why,
  and for a blocking expectation that blocks only some analyses, the columns it `blocks`).
- quality.failing_rows: the rows behind a failure (patient key, file, row, value), capped.
- quality.validated_loads: which landed file versions each batch suite has already seen, so
  a night validates only what is new.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from cartwh.warehouse.connection import insert_frame, transaction
from cartwh.warehouse.schema import ensure_schema
from expectations.suites import Suite
from expectations.validate import SuiteOutcome, run_suite

PENDING_LOADS = """
    SELECT load_id FROM raw.landed_files
    WHERE load_id NOT IN (SELECT load_id FROM quality.validated_loads WHERE suite = ?)
"""


def _result_rows(outcome: SuiteOutcome, run_id: str, now: datetime) -> pd.DataFrame:
    s = outcome.suite
    return pd.DataFrame(
        [
            dict(
                run_id=run_id,
                checked_at=now,
                suite=s.name,
                guards=s.guards,
                scope=s.scope,
                rows_validated=outcome.rows_validated,
                expectation=o.expectation.type,
                column_name=o.expectation.column,
                severity=o.expectation.severity,
                why=o.expectation.why,
                success=o.success,
                element_count=o.element_count,
                unexpected_count=o.unexpected_count,
                observed=o.observed,
                blocks=",".join(o.expectation.blocks) if o.expectation.blocks else None,
            )
            for o in outcome.outcomes
        ]
    )


def _failing_rows(outcome: SuiteOutcome, run_id: str, now: datetime) -> pd.DataFrame:
    frames = [
        o.failing_rows.reindex(columns=["patient_key", "file", "source_row", "value"]).assign(
            run_id=run_id,
            checked_at=now,
            suite=outcome.suite.name,
            expectation=o.expectation.type,
            column_name=o.expectation.column,
            severity=o.expectation.severity,
            why=o.expectation.why,
        )
        for o in outcome.failed
        if len(o.failing_rows)
    ]
    columns = [
        "run_id",
        "checked_at",
        "suite",
        "expectation",
        "column_name",
        "severity",
        "why",
        "patient_key",
        "file",
        "source_row",
        "value",
    ]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _store(con: duckdb.DuckDBPyConnection, outcome: SuiteOutcome, run_id: str, loads: pd.DataFrame | None) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    results, failing = _result_rows(outcome, run_id, now), _failing_rows(outcome, run_id, now)
    validated = pd.DataFrame({"load_id": loads["load_id"] if loads is not None else []})
    validated = validated.assign(suite=outcome.suite.name, run_id=run_id, validated_at=now)
    with transaction(con):  # frames registered by name: the warehouse connection scans no Python variable
        insert_frame(con, "quality.expectation_results", results)
        insert_frame(con, "quality.failing_rows", failing)
        insert_frame(con, "quality.validated_loads", validated)


def check_suite(con: duckdb.DuckDBPyConnection, suite: Suite, gx_root: Path, run_id: str) -> SuiteOutcome:
    """Validate what the suite guards (for a batch suite: only file versions it has not seen),
    store the results, and return them. Loads count as validated only once stored."""
    ensure_schema(con)  # the quality tables, declared in cartwh.warehouse.schema (idempotent)
    loads = None
    if suite.scope == "batch":
        loads = con.execute(PENDING_LOADS, [suite.name]).df()
        con.register("batch", loads)
    try:
        outcome = run_suite(con, suite, gx_root, run_name=f"{run_id}-{suite.name}")
    finally:
        if loads is not None:
            con.unregister("batch")
    _store(con, outcome, run_id, loads)
    return outcome

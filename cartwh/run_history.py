"""Each run's summary, kept in the warehouse (ops.run_history) so reports can show the last
nights: when it ran, how it ended, rows per table, checks, and how long each step took."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

DDL = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.run_history (
    run_id VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR, duration_seconds DOUBLE,
    checks_passed INTEGER, checks_failed INTEGER, blocking_checks_failed INTEGER,
    rows_per_table VARCHAR, step_seconds VARCHAR);
"""
COUNTED_SCHEMAS = ("raw", "marts", "analytics")


@dataclass
class RunSummary:
    run_id: str
    started_at: datetime
    finished_at: datetime
    status: str  # published | failed | blocked
    checks_passed: int = 0
    checks_failed: int = 0
    blocking_checks_failed: int = 0
    step_seconds: dict[str, float] = field(default_factory=dict)


def rows_per_table(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = con.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE schema_name IN ? ORDER BY 1",
        [list(COUNTED_SCHEMAS)],
    ).fetchall()
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for (t,) in tables}


def record_run(con: duckdb.DuckDBPyConnection, summary: RunSummary) -> None:
    con.execute(DDL)
    con.execute(
        "INSERT INTO ops.run_history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [summary.run_id, summary.started_at, summary.finished_at, summary.status,
         (summary.finished_at - summary.started_at).total_seconds(), summary.checks_passed, summary.checks_failed,
         summary.blocking_checks_failed, json.dumps(rows_per_table(con)), json.dumps(summary.step_seconds)],
    )  # fmt: skip

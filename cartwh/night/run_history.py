"""Each run's summary, kept in the warehouse (ops.run_history) so reports can show the last
nights: when it ran, how it ended (and why, when it did not publish), rows per table, checks,
and how long each step took. One row per run: recording a run again replaces its row, so a run
first recorded as published whose publication then failed ends up `failed`, never both. The
table is declared in cartwh.warehouse.schema; a writer's connection (connect()) has it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from cartwh.warehouse.connection import quote_table, transaction

COUNTED_SCHEMAS = ("raw", "marts", "analytics")
# published | blocked (a blocking check failed) | failed (an error; `message` says which) |
# interrupted (Ctrl-C, SIGTERM, or killed: then recorded by the next run)
STATUSES = ("published", "blocked", "failed", "interrupted")


@dataclass
class RunSummary:
    run_id: str
    started_at: datetime
    finished_at: datetime
    status: str  # one of STATUSES
    checks_passed: int = 0
    checks_failed: int = 0
    blocking_checks_failed: int = 0
    step_seconds: dict[str, float] = field(default_factory=dict)
    message: str | None = None  # why a run that did not publish ended, in one sentence


def rows_per_table(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = con.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE schema_name IN ? ORDER BY 1",
        [list(COUNTED_SCHEMAS)],
    ).fetchall()
    return {t: con.execute(f"SELECT count(*) FROM {quote_table(t)}").fetchall()[0][0] for (t,) in tables}


def record_run(con: duckdb.DuckDBPyConnection, summary: RunSummary) -> None:
    with transaction(con):
        con.execute("DELETE FROM ops.run_history WHERE run_id = ?", [summary.run_id])
        con.execute(
            """INSERT INTO ops.run_history (run_id, started_at, finished_at, status, duration_seconds, checks_passed,
                   checks_failed, blocking_checks_failed, rows_per_table, step_seconds, message)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                summary.run_id,
                summary.started_at,
                summary.finished_at,
                summary.status,
                (summary.finished_at - summary.started_at).total_seconds(),
                summary.checks_passed,
                summary.checks_failed,
                summary.blocking_checks_failed,
                json.dumps(rows_per_table(con)),
                json.dumps(summary.step_seconds),
                summary.message,
            ],
        )


def is_recorded(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    return bool(con.execute("SELECT 1 FROM ops.run_history WHERE run_id = ?", [run_id]).fetchall())

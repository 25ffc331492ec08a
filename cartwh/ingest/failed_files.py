"""Files that could not be read tonight, kept where the night's checks and reports see them.

A file that fails, fails alone: the other files of its source and the other sources land the same
night (each source's step completes; cytometry keys its patients without waiting for a REDCap file
that failed). Each failure is kept in raw.ingest_failures with its file, row, column and reason,
becomes a source-health finding that stops the night loudly (expectations/source_health.py:
`file_failed`) and is listed in the data manager's report. Like raw.unrecognised_files the table
holds what the landing folder holds now: each ingestion of a source replaces the source's rows, so
a file corrected and landed again (or removed) leaves it.
"""

from __future__ import annotations

import duckdb

from cartwh.ingest.errors import ExportError
from cartwh.ingest.warehouse import insert_rows, transaction
from cartwh.warehouse.schema import has_table

FAILED_FILES = "raw.ingest_failures"  # declared in cartwh.warehouse.schema


def record_failures(con: duckdb.DuckDBPyConnection, source: str, failures: list[ExportError]) -> None:
    """Replace the source's rows of raw.ingest_failures with tonight's failures."""
    with transaction(con):
        con.execute(f"DELETE FROM {FAILED_FILES} WHERE source = ?", [source])
        now = con.execute("SELECT current_timestamp::TIMESTAMP").fetchall()[0][0]
        insert_rows(con, FAILED_FILES, [(source, f.file, f.row, f.column, str(f), now) for f in failures])


def failed_files(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(source, file, message) of every file that could not be read at its source's last ingestion."""
    if not has_table(con, FAILED_FILES):  # an older warehouse, read-only
        return []
    return con.execute(f"SELECT source, file, message FROM {FAILED_FILES} ORDER BY source, file").fetchall()

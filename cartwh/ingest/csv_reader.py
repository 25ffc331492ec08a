"""Read an export into a DuckDB temp table of text, keeping each row's number in the file.

DuckDB parses (fast, RFC 4180 quoting, embedded newlines); rows it cannot split into the
header's columns go to its rejects table with their line, and we quarantine them. Surviving
rows keep file order, so their row numbers are recovered by skipping the rejected lines.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb

from cartwh.ingest.warehouse import insert_rows, quote, quote_literal

from cartwh.ingest.errors import ExportError, Problem

ROWS = "_export_rows"  # temp table: _row (file row number) + one VARCHAR column per header cell


def read_header(path: Path, name: str) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError as error:
        raise ExportError(name, f"not UTF-8 text ({error.reason} at byte {error.start})", row=1) from error
    if not header or not any(cell.strip() for cell in header):
        raise ExportError(name, "empty file or empty header row", row=1)
    seen = set()
    for cell in header:
        if cell in seen:
            raise ExportError(name, "column appears twice in the header", row=1, column=cell)
        seen.add(cell)
    return header


def read_rows(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> tuple[list[str], list[Problem]]:
    """Load `path` into temp table ROWS; return the header and the rows DuckDB rejected."""
    header = read_header(path, name)
    columns = "{" + ", ".join(f"{quote_literal(c)}: 'VARCHAR'" for c in header) + "}"
    con.execute("DROP TABLE IF EXISTS _csv_rejects; DROP TABLE IF EXISTS _csv_scans")
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {ROWS}_raw AS
                SELECT row_number() OVER () AS _ord, *
                FROM read_csv(?, columns = {columns}, header = true, auto_detect = false,
                              delim = ',', quote = '"', escape = '"', store_rejects = true,
                              rejects_table = '_csv_rejects', rejects_scan = '_csv_scans')""",
            [str(path)],
        )
    except duckdb.Error as error:
        raise ExportError(name, f"cannot be parsed as CSV: {str(error).splitlines()[0]}") from error
    rejected = con.execute(
        "SELECT line, any_value(column_name), string_agg(DISTINCT error_type::VARCHAR, ', ') "
        "FROM _csv_rejects GROUP BY line ORDER BY line"
    ).fetchall()
    # Good row k sits at line k + 1 + (rejected lines r_i with r_i - i <= k), i counted from 1.
    con.execute("CREATE OR REPLACE TEMP TABLE _csv_skips (threshold BIGINT, skipped BIGINT)")
    insert_rows(con, "_csv_skips", [(line - i, i) for i, (line, _, _) in enumerate(rejected, 1)])
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {ROWS} AS
            SELECT r._ord + 1 + coalesce(s.skipped, 0) AS _row, r.* EXCLUDE (_ord)
            FROM {ROWS}_raw r ASOF LEFT JOIN _csv_skips s ON r._ord >= s.threshold"""
    )
    con.execute(f"DROP TABLE {ROWS}_raw")
    problems = [
        Problem(int(line), column, f"malformed row ({kind.lower()}): expected {len(header)} columns")
        for line, column, kind in rejected
    ]
    return header, problems

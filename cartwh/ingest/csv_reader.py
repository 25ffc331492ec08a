"""Read a batch of exports that share a header into one DuckDB temp table of text, keeping
each row's file (its load id) and its row number in that file.

DuckDB parses (fast, RFC 4180 quoting, embedded newlines, many files in one scan); rows it
cannot split into the header's columns go to its rejects table with their file and line, and
we quarantine them. Surviving rows keep file order, so their row numbers are recovered by
skipping the rejected lines of their own file.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cartwh.ingest.errors import ExportError, Problem
from cartwh.ingest.warehouse import quote_literal

ROWS = "_export_rows"  # temp table: _load_id, _row (file row number), one VARCHAR column per header cell
BATCH = "_batch_files"  # temp table: load_id, path, file of the exports being loaded


@dataclass(frozen=True)
class ExportFile:
    """One landed file version: its private copy (the bytes read once from the landing folder),
    its name inside the landing folder, the checksum and size of those bytes, and the folder right
    below its source's folder (the site or project the landing declares; None at the top)."""

    path: Path
    name: str
    checksum: str
    bytes: int
    load_id: int = 0
    folder: str | None = None


def read_header(path: Path, name: str) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError as error:
        raise ExportError(name, f"not UTF-8 text ({error.reason} at byte {error.start})", row=1) from error
    except OSError as error:  # gone or unreadable since it was listed
        raise ExportError(name, f"cannot be read: {error.strerror}") from error
    if not header or not any(cell.strip() for cell in header):
        raise ExportError(name, "empty file or empty header row", row=1)
    seen = set()
    for cell in header:
        if cell in seen:
            raise ExportError(name, "column appears twice in the header", row=1, column=cell)
        seen.add(cell)
    return header


def read_rows(con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> tuple[list[str], list[tuple[int, Problem]]]:
    """Load `files` (same header) into temp table ROWS; return the header and, per load id,
    the rows DuckDB rejected."""
    header = read_header(files[0].path, files[0].name)
    columns = "{" + ", ".join(f"{quote_literal(c)}: 'VARCHAR'" for c in header) + "}"
    con.execute("DROP TABLE IF EXISTS _csv_rejects; DROP TABLE IF EXISTS _csv_scans")
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {ROWS}_raw AS
                SELECT row_number() OVER () AS _ord, *
                FROM read_csv(?, columns = {columns}, header = true, auto_detect = false,
                              delim = ',', quote = '"', escape = '"', store_rejects = true,
                              rejects_table = '_csv_rejects', rejects_scan = '_csv_scans', filename = '_path')""",
            [[str(f.path) for f in files]],
        )
    except duckdb.Error as error:
        raise ExportError(files[0].name if len(files) == 1 else f"{len(files)} files from {files[0].name}",
                          f"cannot be parsed as CSV: {str(error).splitlines()[0]}") from error  # fmt: skip
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _csv_rejected AS
            SELECT b.load_id, r.line, any_value(r.column_name) AS column_name,
                   string_agg(DISTINCT r.error_type::VARCHAR, ', ') AS kinds
            FROM _csv_rejects r JOIN _csv_scans s USING (scan_id, file_id) JOIN {BATCH} b ON b.path = s.file_path
            GROUP BY b.load_id, r.line"""
    )
    # Good row k of a file sits at line k + 1 + (its rejected lines r_i with r_i - i <= k), i counted from 1.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {ROWS} AS
            WITH numbered AS (
                SELECT b.load_id AS _load_id, row_number() OVER (PARTITION BY r._path ORDER BY r._ord) AS _n,
                       r.* EXCLUDE (_ord, _path)
                FROM {ROWS}_raw r JOIN {BATCH} b ON b.path = r._path),
            skips AS (
                SELECT load_id, line - row_number() OVER w AS threshold, row_number() OVER w AS skipped
                FROM _csv_rejected WINDOW w AS (PARTITION BY load_id ORDER BY line))
            SELECT n._load_id, n._n + 1 + coalesce(s.skipped, 0) AS _row, n.* EXCLUDE (_load_id, _n)
            FROM numbered n ASOF LEFT JOIN skips s ON n._load_id = s.load_id AND n._n >= s.threshold"""
    )
    con.execute(f"DROP TABLE {ROWS}_raw")
    problems = [
        (load_id, Problem(int(line), column, f"malformed row ({kind.lower()}): expected {len(header)} columns"))
        for load_id, line, column, kind in con.execute(
            "SELECT load_id, line, column_name, kinds FROM _csv_rejected ORDER BY load_id, line"
        ).fetchall()
    ]
    return header, problems

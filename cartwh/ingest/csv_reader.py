"""Read a batch of exports that share a header into one DuckDB temp table of text, keeping
each row's file (its load id) and its row number in that file.

Rows are numbered here and nowhere else. Each file is split into CSV records (RFC 4180: a
quoted cell may hold commas, doubled quotes and newlines, so one record may span several
lines) and every record gets its number as it is read: the header is row 1, the next record
row 2, and so on, whether the record is then loaded, quarantined or skipped. Nothing later
re-derives a row number, so two rows can never share one. Records that cannot be split into
the header's cells become problems under their own number; blank records are skipped and
counted (SKIPPED), so that every record of a file is accounted for (RECORDS).

REDCap and the LIMS write RFC 4180 CSV in UTF-8. A lab's statistics export (an ExportFile with
`lab_export`) is read differently: its encoding, delimiter and decimal mark are detected per file or declared
per lab (cartwh.ingest.dialects), numbers are rewritten with a decimal point, and FlowJo's table
editor quirks are accepted: an empty first header cell (named `first_column`) and a delimiter at
the end of every line (an empty last column, dropped).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from cartwh.ingest import dialects
from cartwh.ingest.errors import ExportError, Problem
from cartwh.ingest.warehouse import insert_rows, quote, quote_literal

ROWS = "_export_rows"  # temp table: _load_id, _row (file row number), one VARCHAR column per header cell
BATCH = "_batch_files"  # temp table: load_id, path, file of the exports being loaded
RECORDS = "_records_read"  # temp table: load_id, records (every CSV record of the file, header included)
SKIPPED = "_skipped_records"  # temp table: load_id, row, why (header, blank, summary row, ...)

HEADER, BLANK = "header", "blank record"
_CHUNK_RECORDS = 50_000  # rows handed to DuckDB at a time, so memory stays flat for big files


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
    lab_export: bool = False  # a lab's export: read in its own dialect (module doc)
    # What the source reads the file with, from its folder (REDCap: the site's project,
    # cartwh.contract.redcap_site); files with different contexts never share a batch.
    context: object = field(default=None, compare=False)


def header_key(cell: str) -> str:
    """How header cells are compared: 'Sample ', 'sample' and 'SAMPLE' name the same column."""
    return cell.strip().casefold()


def file_header(file: ExportFile) -> list[str]:
    """A landed file's header, read as its source reads it (a lab's export in its dialect)."""
    return read_header(file.path, file.name, file.lab_export, file.folder)


def read_header(
    path: Path, name: str, lab_export: bool = False, folder: str | None = None, first_column: str = ""
) -> list[str]:
    """The header's cells, trimmed; a file whose header cannot be read fails here."""
    if lab_export:
        header, _ = _lab_header(*_lab_text(path, name, folder), first_column)
    else:
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                header = next(csv.reader(handle), None)
        except UnicodeDecodeError as error:
            raise ExportError(name, f"not UTF-8 text ({error.reason} at byte {error.start})", row=1) from error
        except (OSError, csv.Error) as error:  # gone or unreadable since it was listed
            raise ExportError(name, f"cannot be read: {getattr(error, 'strerror', None) or error}", row=1) from error
    if not header or not any(cell.strip() for cell in header):
        raise ExportError(name, "empty file or empty header row", row=1)
    seen: dict[str, str] = {}
    for cell in header:
        first = seen.get(header_key(cell))
        if first is not None:
            both = f"as {first!r} and {cell!r}" if first != cell else f"as {cell!r}"
            raise ExportError(name, f"column appears twice in the header ({both})", row=1, column=cell.strip())
        seen[header_key(cell)] = cell
    return [cell.strip() for cell in header]


def _lab_text(path: Path, name: str, folder: str | None) -> tuple[dialects.Dialect, str]:
    """A lab export's dialect (its lab's declaration, the rest detected) and decoded text."""
    try:
        content = path.read_bytes()
    except OSError as error:
        raise ExportError(name, f"cannot be read: {error.strerror}", row=1) from error
    return dialects.detect(content, name, dialects.declared_for(folder))


def _lab_header(dialect: dialects.Dialect, text: str, first_column: str) -> tuple[list[str], bool]:
    """FlowJo's header as cells, and whether every line ends in a delimiter: a trailing
    delimiter's empty last cell is dropped, an empty first cell (FlowJo leaves the sample-name
    column unnamed) is named `first_column`."""
    header = next(csv.reader(io.StringIO(text, newline=""), delimiter=dialect.delimiter), [])
    trailing = len(header) > 1 and not header[-1].strip()
    if trailing:
        header.pop()
    if header and not header[0].strip() and first_column:
        header[0] = first_column
    return header, trailing


def canonical_header(header: list[str], known: list[str]) -> list[str]:
    """Header cells spelled as the contract spells them when they match a known name after
    trimming and case-folding ('Record_ID' is record_id); others as exported (trimmed)."""
    spelling = {header_key(k): k for k in known}
    return [spelling.get(header_key(cell), cell) for cell in header]


def _records(file: ExportFile):
    """(row, first line, cells or None, why not) for every CSV record after the header."""
    if file.lab_export:
        dialect, text = _lab_text(file.path, file.name, file.folder)
        trailing = _lab_header(dialect, text, "")[1]
        normalise = dialects.number_normaliser(dialect)
    else:
        try:
            text = file.path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ExportError(file.name, f"not UTF-8 text ({error.reason} at byte {error.start})") from error
        except OSError as error:
            raise ExportError(file.name, f"cannot be read: {error.strerror}") from error
        dialect, trailing, normalise = dialects.CANONICAL, False, None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, delimiter=dialect.delimiter)
    row = 0
    while True:
        line = reader.line_num + 1
        try:
            cells, error = next(reader), None
        except StopIteration:
            return
        except csv.Error as broken:  # bad quoting, a NUL byte, a quote never closed
            cells, error = None, str(broken)
        row += 1
        if row > 1:
            if cells and trailing and not cells[-1].strip():  # the delimiter FlowJo ends every line with
                cells.pop()
            if cells and normalise:
                cells = [normalise(cell) for cell in cells]
            yield row, line, cells, error


def read_rows(
    con: duckdb.DuckDBPyConnection, files: list[ExportFile], known: list[str] = (), first_column: str = ""
) -> tuple[list[str], list[tuple[int, Problem]]]:
    """Load `files` (same header) into temp table ROWS, numbered; fill RECORDS and SKIPPED;
    return the header (canonical spellings of `known` names) and the records that could not
    be split into the header's cells, per load id. `first_column`: the name of a lab export's
    unnamed first column."""
    first = files[0]
    header = read_header(first.path, first.name, first.lab_export, first.folder, first_column)
    header = canonical_header(header, list(known))
    width = len(header)
    cells_sql = ", ".join(f"{quote(c)} VARCHAR" for c in header)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ROWS} (_load_id BIGINT, _row BIGINT, {cells_sql})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {RECORDS} (load_id BIGINT, records BIGINT)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SKIPPED} (load_id BIGINT, row BIGINT, why VARCHAR)")
    problems, skipped, counts, chunk = [], [], [], []
    for file in files:
        skipped.append((file.load_id, 1, HEADER))
        last = 1
        for row, line, cells, error in _records(file):
            last = row
            where = f" (the record starts on line {line})" if line != row else ""
            if error is not None:
                problems.append((file.load_id, Problem(row, None, f"malformed row (unreadable CSV: {error}){where}")))
            elif not any(cell.strip() for cell in cells):  # an empty line, or a row of empty cells
                skipped.append((file.load_id, row, BLANK))
            elif len(cells) < width:  # the column named is the first one missing
                reason = f"malformed row (missing columns): expected {width} columns{where}"
                problems.append((file.load_id, Problem(row, header[len(cells)], reason)))
            elif len(cells) > width:
                reason = f"malformed row (too many columns): expected {width} columns{where}"
                problems.append((file.load_id, Problem(row, None, reason)))
            else:
                chunk.append([file.load_id, row, *cells])
                if len(chunk) >= _CHUNK_RECORDS:
                    _append(con, header, chunk)
                    chunk = []
        counts.append((file.load_id, last))
    _append(con, header, chunk)
    insert_rows(con, RECORDS, counts)
    insert_rows(con, SKIPPED, skipped)
    return header, problems


def _append(con: duckdb.DuckDBPyConnection, header: list[str], rows: list[list]) -> None:
    """Append numbered records to ROWS; an empty cell is NULL, as in any CSV reader."""
    if not rows:
        return
    frame = pd.DataFrame(rows, columns=["_load_id", "_row", *(f"c{i}" for i in range(len(header)))], dtype=object)
    con.register("_record_chunk", frame)
    try:
        cells = ", ".join(f"nullif(c{i}, '')" for i in range(len(header)))
        con.execute(f"INSERT INTO {ROWS} SELECT _load_id::BIGINT, _row::BIGINT, {cells} FROM _record_chunk")
    finally:
        con.unregister("_record_chunk")


def skip_rows(con: duckdb.DuckDBPyConnection, where: str, why: str) -> None:
    """Move the rows of ROWS matching `where` to SKIPPED: they are not data (e.g. summary rows)."""
    con.execute(f"INSERT INTO {SKIPPED} SELECT _load_id, _row, {quote_literal(why)} FROM {ROWS} WHERE {where}")
    con.execute(f"DELETE FROM {ROWS} WHERE {where}")

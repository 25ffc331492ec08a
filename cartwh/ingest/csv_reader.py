"""Read a batch of exports that share a header into one DuckDB temp table of text, keeping
each row's file (its load id) and its row number in that file.

Rows are numbered here and nowhere else. Each file is split into CSV records (RFC 4180: a
quoted cell may hold commas, doubled quotes and newlines, so one record may span several
lines) and every record gets its number as it is read: the header is row 1, the next record
row 2, and so on, whether the record is then loaded, quarantined or skipped. Nothing later
re-derives a row number, so two rows can never share one. Records that cannot be split into
the header's cells become problems under their own number; blank records are skipped and
counted (SKIPPED), so that every record of a file is accounted for (RECORDS).

DuckDB reads, Python decides only what DuckDB cannot: a file whose every line is one record (no
NUL, no line end but LF or CR LF, no line longer than a CSV field may be, and every line with a
quote character a sequence of whole cells, each quoted or not: `record_patterns`) is split into
lines and cells by DuckDB, a line's number being its place in the text, its quoted cells unquoted
there; the others (a cell with a line break, a stray quote, a ragged line end) are
split by Python's CSV reader, record by record. Both give the same rows, problems and counts
(tests/unit/ingest/test_csv_reader_paths.py proves it on generated files). REDCap quotes a text
value with a space or a comma in it: its exports take DuckDB's path unless a value holds a line break.

REDCap and the LIMS write RFC 4180 CSV in UTF-8. A lab's statistics export (an ExportFile with
`lab_export`) is read in its own dialect, detected once per file or declared per lab
(cartwh.ingest.dialects), and FlowJo's table editor quirks are accepted: an empty first header
cell (named `first_column`) and a delimiter at the end of every line (an empty last column,
dropped). Its numbers are rewritten with a decimal point where they are typed, not here.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from cartwh.ingest import dialects
from cartwh.ingest.dialects import CANONICAL, WHITESPACE_CLASS, Dialect
from cartwh.ingest.errors import ExportError, Problem
from cartwh.ingest.warehouse import insert_rows, quote, quote_literal

ROWS = "_export_rows"  # temp table: _load_id, _row (file row number), one VARCHAR column per header cell
BATCH = "_batch_files"  # temp table: load_id, path, file of the exports being loaded
RECORDS = "_records_read"  # temp table: load_id, records (every CSV record of the file, header included)
SKIPPED = "_skipped_records"  # temp table: load_id, row, why (header, blank, summary row, ...)
CELLS = "_cells"  # ROWS column when read_rows names only some columns: a record's cells Python split

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
    # A lab export's dialect, detected once when the file is listed (None: detected when read).
    dialect: Dialect | None = field(default=None, compare=False)


@dataclass(frozen=True)
class _Text:
    """One file's text, split at its header: the header's cells, whether every line ends in a
    delimiter, how many lines the header took, and the text after it."""

    dialect: Dialect
    header: list[str]
    trailing: bool
    header_lines: int
    body: str

    def may_split_by_lines(self) -> bool:
        """Every line after the header may be one record: no NUL, no lone CR, no line longer than
        a field may be. (Whether each line with a quote is whole cells is decided in SQL.)"""
        body, limit = self.body, csv.field_size_limit()
        return (
            "\x00" not in body
            and body.count("\r") == body.count("\r\n")
            and (len(body) <= limit or max(map(len, body.split("\n"))) <= limit)
        )


def header_key(cell: str) -> str:
    """How header cells are compared: 'Sample ', 'sample' and 'SAMPLE' name the same column."""
    return cell.strip().casefold()


def file_header(file: ExportFile, first_column: str = "") -> list[str]:
    """A landed file's header, read as its source reads it (a lab's export in its dialect; its
    unnamed first column named `first_column`)."""
    return _read(file, first_column).header


def file_dialect(file: ExportFile) -> Dialect:
    """How the file is written: a lab export's dialect (detected once when listed), else CSV as
    REDCap and the LIMS write it."""
    return file.dialect or (_decoded(file)[0] if file.lab_export else CANONICAL)


def _decoded(file: ExportFile) -> tuple[Dialect, str]:
    """The file's dialect and its text, decoded once."""
    try:
        content = file.path.read_bytes()
    except OSError as error:  # gone or unreadable since it was listed
        raise ExportError(file.name, f"cannot be read: {error.strerror}", row=1) from error
    if file.lab_export and file.dialect is None:
        return dialects.detect(content, file.name, dialects.declared_for(file.folder))
    if file.lab_export:
        text, _ = dialects.decode(content, file.name, file.dialect.encoding)
        return file.dialect, text.removeprefix("\ufeff")
    try:
        return CANONICAL, content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        row = content[: error.start].count(b"\n") + 1
        raise ExportError(file.name, f"not UTF-8 text ({error.reason} at byte {error.start})", row=row) from error


def _read(file: ExportFile, first_column: str = "") -> _Text:
    """The file's text split at its header, whose cells are trimmed; a file whose header cannot
    be read fails here. A lab export's trailing delimiter's empty last cell is dropped, and an
    empty first cell (FlowJo leaves the sample-name column unnamed) is named `first_column`."""
    dialect, text = _decoded(file)
    stream = io.StringIO(text, newline="")
    reader = csv.reader(stream, delimiter=dialect.delimiter)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise ExportError(file.name, f"cannot be read: {error}", row=1) from error
    trailing = bool(file.lab_export and header and len(header) > 1 and not header[-1].strip())
    if trailing:
        header.pop()
    if file.lab_export and header and not header[0].strip() and first_column:
        header[0] = first_column
    if not header or not any(cell.strip() for cell in header):
        raise ExportError(file.name, "empty file or empty header row", row=1)
    seen: dict[str, str] = {}
    for cell in header:
        first = seen.get(header_key(cell))
        if first is not None:
            both = f"as {first!r} and {cell!r}" if first != cell else f"as {cell!r}"
            raise ExportError(file.name, f"column appears twice in the header ({both})", row=1, column=cell.strip())
        seen[header_key(cell)] = cell
    # The reader took the header's lines from the stream, no more: the rest is the body.
    return _Text(dialect, [cell.strip() for cell in header], trailing, reader.line_num, stream.read())


def canonical_header(header: list[str], known: list[str]) -> list[str]:
    """Header cells spelled as the contract spells them when they match a known name after
    trimming and case-folding ('Record_ID' is record_id); others as exported (trimmed)."""
    spelling = {header_key(k): k for k in known}
    return [spelling.get(header_key(cell), cell) for cell in header]


def read_rows(
    con: duckdb.DuckDBPyConnection,
    files: list[ExportFile],
    known: list[str] = (),
    first_column: str = "",
    columns: list[str] | None = None,
) -> tuple[list[str], list[tuple[int, Problem]]]:
    """Load `files` (same header) into temp table ROWS, numbered; fill RECORDS and SKIPPED;
    return the header (canonical spellings of `known` names) and the records that could not
    be split into the header's cells, per load id. `first_column`: the name of a lab export's
    unnamed first column. `columns`: the header cells that become columns of ROWS (all when
    None); the others are read where they are used, from the record's cells (`cells_sql`), so a
    wide export's numbers are not copied into text columns first."""
    texts = [(file, _read(file, first_column)) for file in files]
    header = canonical_header(texts[0][1].header, list(known))
    named = header if columns is None else [c for c in header if c in columns]
    cells_sql = "".join(f", {quote(c)} VARCHAR" for c in named)
    record = "" if columns is None else f", _line VARCHAR, {CELLS} VARCHAR[]"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ROWS} (_load_id BIGINT, _row BIGINT{cells_sql}{record})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {RECORDS} (load_id BIGINT, records BIGINT)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SKIPPED} (load_id BIGINT, row BIGINT, why VARCHAR)")
    insert_rows(con, SKIPPED, [(file.load_id, 1, HEADER) for file in files])
    positions = [header.index(c) + 1 for c in named]
    by_lines = {file.load_id: text for file, text in texts if text.may_split_by_lines()}
    problems, not_split = _split_in_sql(con, header, positions, columns is not None, list(by_lines.items()))
    for file, text in texts:
        if file.load_id not in by_lines or file.load_id in not_split:
            problems += _split_in_python(con, header, positions, columns is not None, file.load_id, text)
    return header, problems


def cells_sql(delimiter: str) -> str:
    """SQL over ROWS read with `columns`: every cell of the record, a list in the header's order."""
    return f"coalesce({CELLS}, string_split(_line, {quote_literal(delimiter)}))"


def _split_in_sql(
    con: duckdb.DuckDBPyConnection, header: list[str], positions: list[int], lines: bool, texts: list[tuple[int, _Text]]
) -> tuple[list, set[int]]:
    """ROWS, RECORDS and SKIPPED of the files (load id, text) whose every line is a record: DuckDB
    splits their text into lines, numbered by their place, and the lines into cells, in bulk
    (the cells at `positions` into columns; with `lines`, the line kept for the others).
    Returns the problems (ragged rows), per load id, and the load ids of the files DuckDB left
    alone: a line with a quote that is not whole cells (a cell with a line break, a stray quote)."""
    problems, not_split = [], set()
    for delimiter in {text.dialect.delimiter for _, text in texts}:  # one, unless a lab changed its own
        bodies = [(i, t.body.replace("\r\n", "\n"), t) for i, t in texts if t.dialect.delimiter == delimiter]
        frame = pd.DataFrame(
            {
                "load_id": [i for i, _, _ in bodies],
                "body": [body for _, body, _ in bodies],
                "records": [body.count("\n") + (1 if body and not body.endswith("\n") else 0) for _, body, _ in bodies],
                "header_lines": [t.header_lines for _, _, t in bodies],
                "ends_in_delimiter": [t.trailing for _, _, t in bodies],
            }
        )
        con.register("_bodies", frame)
        try:
            found, left = _split_lines(con, header, positions, lines, delimiter)
        finally:
            con.unregister("_bodies")
        problems += found
        not_split |= left
    return problems, not_split


def record_patterns(delimiter: str) -> tuple[str, str, str]:
    """(a line that is whole cells, one whose quoted cells hold no delimiter, one cell after its
    delimiter) as regular expressions: a cell is quoted (`"..."`, a quote inside doubled) or holds
    neither quote nor delimiter. A line of whole cells is one CSV record, read as Python's CSV
    reader reads it; when no quoted cell holds the delimiter, splitting at every delimiter gives
    its cells (the common case, and five times faster than finding each cell)."""
    d = r"\t" if delimiter == "\t" else re.escape(delimiter)
    cell, plain = f'"(?:[^"]|"")*"|[^"{d}]*', f'"(?:[^"{d}]|"")*"|[^"{d}]*'
    return f"(?:{cell})(?:{d}(?:{cell}))*", f"(?:{plain})(?:{d}(?:{plain}))*", f"{d}({cell})"


def _split_lines(
    con: duckdb.DuckDBPyConnection, header: list[str], positions: list[int], lines: bool, delimiter: str
) -> tuple[list, set[int]]:
    """_split_in_sql for the registered `_bodies` of one delimiter. A line without a quote is split
    at every delimiter; a line with one is split into its cells by `record_patterns`, each
    unquoted (a list, `quoted`), or, when it is not whole cells, leaves its file to Python. A
    line's cells are counted less the empty one a trailing delimiter leaves."""
    width, d = len(header), quote_literal(delimiter)
    record, plain, cell = map(quote_literal, record_patterns(delimiter))
    unquoted = "lambda c: CASE WHEN starts_with(c, '\"') THEN replace(c[2:-2], '\"\"', '\"') ELSE c END"
    filled = f"'[^{WHITESPACE_CLASS}]'"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _lines AS
            WITH lines AS (SELECT load_id, header_lines, ends_in_delimiter, records, string_split(body, chr(10)) AS lines
                           FROM _bodies),
            numbered AS (SELECT load_id, header_lines, ends_in_delimiter, records, unnest(lines) AS line,
                                generate_subscripts(lines, 1) AS n FROM lines),
            parsed AS (SELECT *, contains(line, '"') AS has_quote,
                              CASE WHEN NOT has_quote THEN NULL
                                   WHEN regexp_full_match(line, {plain})
                                   THEN list_transform(string_split(line, {d}), {unquoted})
                                   WHEN regexp_full_match(line, {record})
                                   THEN list_transform(regexp_extract_all({d} || line, {cell}, 1), {unquoted})
                              END AS quoted
                       FROM numbered WHERE n <= records)
            SELECT load_id, n + 1 AS row, header_lines + n AS line_number, line, quoted,
                   has_quote AND quoted IS NULL AS not_cells,
                   -- a character other than a blank, a delimiter or a quote is in a cell: not blank
                   NOT regexp_matches(line, '[^{WHITESPACE_CLASS}"' || {d} || ']') AND (NOT has_quote
                       OR NOT list_bool_or(list_transform(quoted, lambda c: regexp_matches(c, {filled})))) AS blank,
                   CASE WHEN has_quote
                        THEN len(quoted) - (ends_in_delimiter AND NOT regexp_matches(quoted[-1], {filled}))::INTEGER
                        ELSE strlen(line) - strlen(replace(line, {d}, '')) + 1
                             - (ends_in_delimiter AND regexp_matches(line, {d} || '[{WHITESPACE_CLASS}]*$'))::INTEGER
                   END AS cells
            FROM parsed"""
    )
    left = {row[0] for row in con.execute("SELECT DISTINCT load_id FROM _lines WHERE not_cells").fetchall()}
    if left:  # Python's reader splits these files whole
        con.execute("DELETE FROM _lines WHERE load_id IN (SELECT load_id FROM _lines WHERE not_cells)")
    named = "".join(f", nullif(c[{i}], '')" for i in positions)
    kept = ", line, quoted" if lines else ""
    con.execute(
        f"""INSERT INTO {ROWS} SELECT load_id, row{named}{kept}
            FROM (SELECT *, coalesce(quoted, string_split(line, {d})) AS c FROM _lines WHERE NOT blank AND cells = {width})"""
    )
    con.execute(f"INSERT INTO {SKIPPED} SELECT load_id, row, {quote_literal(BLANK)} FROM _lines WHERE blank")
    con.execute(
        f"INSERT INTO {RECORDS} SELECT load_id, 1 + records FROM _bodies WHERE load_id NOT IN (SELECT unnest(?))",
        [sorted(left)],
    )
    ragged = con.execute(
        f"SELECT load_id, row, line_number, cells FROM _lines WHERE NOT blank AND cells <> {width} ORDER BY load_id, row"
    ).fetchall()
    return [(load_id, _ragged(header, row, line, cells)) for load_id, row, line, cells in ragged], left


def _ragged(header: list[str], row: int, line: int, cells: int) -> Problem:
    """A record split into more or fewer cells than the header has; the column named is the
    first one missing."""
    where = f" (the record starts on line {line})" if line != row else ""
    if cells < len(header):
        return Problem(row, header[cells], f"malformed row (missing columns): expected {len(header)} columns{where}")
    return Problem(row, None, f"malformed row (too many columns): expected {len(header)} columns{where}")


def _records(text: _Text):
    """(row, first line, last line, cells or None, why not) for every CSV record after the header."""
    reader = csv.reader(io.StringIO(text.body, newline=""), strict=True, delimiter=text.dialect.delimiter)
    row = 1
    while True:
        line = text.header_lines + reader.line_num + 1
        try:
            cells, error = next(reader), None
        except StopIteration:
            return
        except csv.Error as broken:  # bad quoting, a NUL byte, a quote never closed
            cells, error = None, str(broken)
        row += 1
        if cells and text.trailing and not cells[-1].strip():  # the delimiter FlowJo ends every line with
            cells.pop()
        yield row, line, text.header_lines + reader.line_num, cells, error


def _split_in_python(
    con: duckdb.DuckDBPyConnection, header: list[str], positions: list[int], lines: bool, load_id: int, text: _Text
) -> list:
    """ROWS, RECORDS and SKIPPED of one file, split record by record by Python's CSV reader."""
    width, problems, skipped, chunk, last = len(header), [], [], [], 1
    for row, line, end, cells, error in _records(text):
        last = row
        if error is not None:
            # A quote left open swallows the lines after it into one record: say which.
            where = (
                f" (lines {line} to {end})"
                if end > line
                else (f" (the record starts on line {line})" if line != row else "")
            )
            problems.append((load_id, Problem(row, None, f"malformed row (unreadable CSV: {error}){where}")))
        elif not any(cell.strip() for cell in cells):  # an empty line, or a row of empty cells
            skipped.append((load_id, row, BLANK))
        elif len(cells) != width:
            problems.append((load_id, _ragged(header, row, line, len(cells))))
        else:
            chunk.append([load_id, row, *(cells[i - 1] for i in positions), *([None, cells] if lines else [])])
            if len(chunk) >= _CHUNK_RECORDS:
                _append(con, chunk)
                chunk = []
    _append(con, chunk)
    insert_rows(con, RECORDS, [(load_id, last)])
    insert_rows(con, SKIPPED, skipped)
    return problems


def _append(con: duckdb.DuckDBPyConnection, rows: list[list]) -> None:
    """Append numbered records to ROWS; an empty cell is NULL, as in any CSV reader."""
    if not rows:
        return
    columns = [r[0] for r in con.execute(f"DESCRIBE {ROWS}").fetchall()]
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    con.register("_record_chunk", frame)
    try:
        cells = ", ".join(
            f"{quote(c)}::BIGINT"
            if c in ("_load_id", "_row")
            else f"{quote(c)}"
            if c in ("_line", CELLS)
            else f"nullif({quote(c)}, '')"
            for c in columns
        )
        con.execute(f"INSERT INTO {ROWS} SELECT {cells} FROM _record_chunk")
    finally:
        con.unregister("_record_chunk")


def skip_rows(con: duckdb.DuckDBPyConnection, where: str, why: str) -> None:
    """Move the rows of ROWS matching `where` to SKIPPED: they are not data (e.g. summary rows)."""
    con.execute(f"INSERT INTO {SKIPPED} SELECT _load_id, _row, {quote_literal(why)} FROM {ROWS} WHERE {where}")
    con.execute(f"DELETE FROM {ROWS} WHERE {where}")

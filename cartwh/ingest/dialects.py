"""How one export file is written: its encoding, delimiter and decimal mark, detected once per file.

Cytometry labs export from FlowJo, Infinicyt or Kaluza on lab PCs, so one folder can hold
comma-separated UTF-8 next to what Excel writes on a Spanish or German PC: semicolons, decimal
commas (and sometimes `.` grouping thousands), Windows-1252, UTF-16. Each file's dialect is
detected from its own bytes, or declared per lab (the `cytometry_lab_dialects` seed), and a file
whose dialect cannot be told is refused with its row and a sentence: a guessed decimal mark would
silently turn 1.234 cells/µL into 1234.

Detection, once per file (ingestion carries the result with the file, csv_reader.ExportFile):
- encoding: a UTF-8 or UTF-16 byte-order mark says so; UTF-16 without one shows as a NUL byte
  beside every ASCII character; text that is valid UTF-8 is UTF-8; anything else is read as
  Windows-1252 (the `µ` of `cells/µL` and accented gate names are where it shows); bytes
  Windows-1252 does not define fail.
- delimiter, from the first lines (`_SAMPLE` characters): the candidate (`,` `;` tab) that
  splits the header into more than one cell and every record into the same number of cells;
  none or several: the file fails.
- decimal mark, from the numbers of the statistic columns only (never the first column, which
  names the sample, nor a column of sample, population or statistic names, nor a malformed
  record's cells: it is quarantined, not read), in the first lines
  and in the whole file only when those cannot tell: `12,5` or `1.234,5` can only be decimal
  commas, `12.5`, `0.123` or `4.43E+05` only decimal points; `1.234` (one group of three digits)
  could be either, and `1E+06` has no mark at all, so a file with nothing but such numbers
  fails unless its lab declares its decimal mark, as does a file with both marks. Whole-text
  searches, not a test of every number: the sample is small and the searches run in C.
Numbers are rewritten with a decimal point and no thousands separator, digit for digit (trailing
zeros included), so the written precision survives: in SQL where statistics are typed
(`number_sql`), the same pattern as `number_normaliser`.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass

from cartwh.contract.cytometry import TEXT_HEADERS
from cartwh.ingest.errors import ExportError

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
DECIMAL_MARKS = (".", ",")
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252")
_SAMPLE = 8 * 1024  # characters of a file (whole lines) the delimiter and decimal mark are told from
# What Python's str.strip() strips (every character str.isspace() holds), for SQL to strip the
# same: DuckDB's trim() strips spaces only.
WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


# The same as a character class of DuckDB's regular expressions (RE2): `[{WHITESPACE_CLASS}]`.
WHITESPACE_CLASS = "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE)


def strip_sql(text: str) -> str:
    """`text.strip()` as a DuckDB expression."""
    return f"regexp_replace({text}, '^[{WHITESPACE_CLASS}]+|[{WHITESPACE_CLASS}]+$', '', 'g')"


@dataclass(frozen=True)
class Dialect:
    encoding: str = "utf-8-sig"
    delimiter: str = ","
    decimal: str = "."

    @property
    def thousands(self) -> str | None:
        """Excel on a decimal-comma PC groups thousands with `.`; with a decimal point, `,` groups
        them only when `,` is not the delimiter."""
        if self.decimal == ",":
            return "."
        return "," if self.delimiter != "," else None

    @property
    def plain_numbers(self) -> bool:
        """Numbers are already as SQL reads them (a decimal point, no grouping)."""
        return self.decimal == "." and self.thousands is None


CANONICAL = Dialect()


@dataclass(frozen=True)
class Declared:
    """A lab's declaration (seed row): any field left None is detected."""

    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None


# A number as a spreadsheet or FlowJo writes it, with `P` the decimal mark and `G` the grouping
# mark: 12, 12.5, .5, 4.43E+05, 1.234.567,8 ... (a pattern Python and DuckDB read alike).
_SIGN, _EXP = r"[+-]?", r"(?:[eE][+-]?\d+)?"


def _number(point: str, group: str | None) -> str:
    p = re.escape(point)
    plain = rf"(?:\d+(?:{p}\d*)?|{p}\d+)"
    if group is None:
        return rf"{_SIGN}{plain}{_EXP}"
    g = re.escape(group)
    return rf"{_SIGN}(?:{plain}|[1-9]\d{{0,2}}(?:{g}\d{{3}})+(?:{p}\d*)?){_EXP}"


# Evidence for a decimal mark, each pattern one whole cell. A single group of exactly three digits
# after the mark, with one to three non-zero-led digits before it (1.234, 12,500), could be a
# decimal or a thousands group; E-notation counts only through the mark of its mantissa.
_AMBIGUOUS = r"[+-]?[1-9]\d{0,2}[.,]\d{3}"
_EVIDENCE = {
    mark: rf"(?!{_AMBIGUOUS}$)(?:{_SIGN}(?:\d*{p}\d+|\d+{p}){_EXP}|{_SIGN}[1-9]\d{{0,2}}(?:{g}\d{{3}})+{p}\d*{_EXP}"
    rf"|[+-]?[1-9]\d{{0,2}}(?:{g}\d{{3}}){{2,}})"
    for mark, p, g in ((".", r"\.", ","), (",", ",", r"\."))
}
_FOUND = {mark: re.compile(rf"^{pattern}$", re.MULTILINE) for mark, pattern in _EVIDENCE.items()}
_FOUND_AMBIGUOUS = re.compile(rf"^{_AMBIGUOUS}$", re.MULTILINE)


def _encoding(content: bytes) -> str | None:
    """The encoding a byte-order mark or NUL bytes show; None: UTF-8 if it decodes, else cp1252."""
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if content.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    head = content[:_SAMPLE]
    # UTF-16 without a BOM: text in Latin script has a NUL beside nearly every character.
    for encoding, nuls, others in (("utf-16-le", head[1::2], head[0::2]), ("utf-16-be", head[0::2], head[1::2])):
        if len(head) >= 4 and nuls.count(0) > 0.9 * len(nuls) and others.count(0) < 0.1 * len(others):
            return encoding
    return None


def decode(content: bytes, name: str, encoding: str | None = None) -> tuple[str, str]:
    """(text, encoding) of a file's bytes: the declared encoding, else detected (module doc)."""
    encoding = encoding or _encoding(content)
    if encoding is None:
        try:
            return content.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1252"
    try:
        return content.decode(encoding), encoding
    except UnicodeDecodeError as error:
        row = content[: error.start].count(b"\n") + 1 if not encoding.startswith("utf-16") else None
        what = "not Windows-1252 or UTF-8 text" if encoding == "cp1252" else f"not {encoding} text"
        raise ExportError(name, f"{what} ({error.reason} at byte {error.start})", row=row) from error


def _split(text: str, delimiter: str) -> list[list[str]] | None:
    """The records of `text` split at `delimiter`, or None when the CSV does not parse at all."""
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error:
        return None


def _head(text: str) -> str:
    """The first whole lines of `text`, about _SAMPLE characters (all of it when shorter)."""
    return text[: text.rfind("\n", 0, _SAMPLE) + 1] or text


def _delimiter(head: str, name: str) -> str:
    """The candidate that splits the header into several cells; when several do, the one that
    splits more records into as many cells as its header (malformed rows do not decide it: they
    are quarantined later); a tie fails."""
    scores = {}
    for delimiter in DELIMITERS:
        records = _split(head, delimiter)
        if records and len(records[0]) >= 2:
            data = [r for r in records[1:] if any(c.strip() for c in r)]
            scores[delimiter] = sum(len(r) == len(records[0]) for r in data) / max(len(data), 1)
    if not scores:
        raise ExportError(
            name,
            "cannot tell the delimiter: no comma, semicolon or tab splits the header into "
            "columns; declare the lab's delimiter",
            row=1,
        )
    best = max(scores.values())
    fits = [d for d, score in scores.items() if score == best]
    if len(fits) == 1:
        return fits[0]
    names = " and ".join(DELIMITERS[d] for d in fits)
    raise ExportError(
        name,
        f"cannot tell the delimiter: {names} both split the header and the records alike; declare the lab's delimiter",
        row=1,
    )


def _numbers(records: list[list[str]]) -> list[tuple[int, list[str]]]:
    """(row, the cells that may hold numbers) of each record after the header: every column but
    the first (the sample's name) and the columns of sample, population or statistic names. A
    record of more or fewer cells than the header is left out: it is quarantined whole as
    malformed (csv_reader), so its cells are no column's and one such row must not fail the file."""
    header = records[0] if records else []
    skip = {0} | {i for i, cell in enumerate(header) if cell.strip().casefold() in TEXT_HEADERS}
    return [
        (row, [cell.strip() for i, cell in enumerate(record) if i not in skip])
        for row, record in enumerate(records[1:], start=2)
        if len(record) == len(header)
    ]


def _marks(records: list[list[str]]) -> tuple[set[str], bool]:
    """(the decimal marks some number shows, whether some number is ambiguous), by a few searches
    of the numeric cells, one per line."""
    cells = "\n".join("\n".join(cells) for _, cells in _numbers(records))
    return {mark for mark, found in _FOUND.items() if found.search(cells)}, bool(_FOUND_AMBIGUOUS.search(cells))


def _first(records: list[list[str]], pattern: str) -> tuple[int, str]:
    """The row and cell of the first number matching `pattern`, to name it in an error."""
    whole = re.compile(pattern)
    return next((row, cell) for row, cells in _numbers(records) for cell in cells if whole.fullmatch(cell))


def _decimal(text: str, delimiter: str, name: str) -> str:
    """The decimal mark the numbers show (module doc): the first lines decide, else the whole file."""
    for sample in (_head(text), text):
        records = _split(sample, delimiter) or []
        marks, ambiguous = _marks(records)
        if marks or sample is text or len(sample) == len(text):
            break
    if len(marks) == 2:
        (r1, c1), (r2, c2) = _first(records, _EVIDENCE["."]), _first(records, _EVIDENCE[","])
        raise ExportError(
            name,
            f"both decimal marks: {c1!r} in row {r1} has a decimal point and {c2!r} in row "
            f"{r2} a decimal comma; declare the lab's decimal mark",
            row=max(r1, r2),
        )
    if marks:
        return marks.pop()
    if ambiguous:
        row, cell = _first(records, _AMBIGUOUS)
        raise ExportError(
            name,
            f"cannot tell the decimal mark: {cell!r} could be a decimal or a thousands "
            "separator, and no other number says which; declare the lab's decimal mark",
            row=row,
        )
    return "."


def detect(content: bytes, name: str, declared: Declared | None = None) -> tuple[Dialect, str]:
    """(dialect, text) of one file: what `declared` fixes, the rest detected from the bytes."""
    declared = declared or Declared()
    text, encoding = decode(content, name, declared.encoding)
    text = text.removeprefix("\ufeff")
    delimiter = declared.delimiter or _delimiter(_head(text), name)
    decimal = declared.decimal or _decimal(text, delimiter, name)
    return Dialect(encoding, delimiter, decimal), text


def number_normaliser(dialect: Dialect):
    """cell -> the cell with a decimal point and no grouping, digit for digit, when it is a number
    in `dialect`; any other cell unchanged (it is then checked, and reported, as written)."""
    if dialect.plain_numbers:
        return lambda cell: cell
    pattern, group = re.compile(_number(dialect.decimal, dialect.thousands)), dialect.thousands

    def normalise(cell: str) -> str:
        stripped = cell.strip()
        if not pattern.fullmatch(stripped):
            return cell
        if group:
            stripped = stripped.replace(group, "")
        return stripped.replace(dialect.decimal, ".")

    return normalise


def number_sql(dialect: Dialect, cell: str) -> str:
    """`number_normaliser` as a DuckDB expression on the text column `cell`, for typing in bulk."""
    if dialect.plain_numbers:
        return cell
    pattern = _number(dialect.decimal, dialect.thousands).replace("'", "''")
    rewritten = strip_sql(cell)
    if dialect.thousands:
        rewritten = f"replace({rewritten}, '{dialect.thousands}', '')"
    rewritten = f"replace({rewritten}, '{dialect.decimal}', '.')"
    return f"CASE WHEN regexp_full_match({strip_sql(cell)}, '{pattern}') THEN {rewritten} ELSE {cell} END"


LAB_DIALECTS_SEED = "cytometry_lab_dialects.csv"  # in dbt_project/seeds: lab, delimiter, decimal_mark, encoding


def lab_dialects() -> dict[str, Declared]:
    """Each lab's declared dialect (the seed; a lab is the site folder its exports land in).
    Read at every call: the seed is a few lines and may be edited between runs."""
    from cartwh import settings

    path = settings.PROJECT_ROOT / "dbt_project" / "seeds" / LAB_DIALECTS_SEED
    by_word = {word: d for d, word in DELIMITERS.items()}
    declared = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            declared[row["lab"].strip()] = Declared(
                encoding=row["encoding"].strip() or None,
                delimiter=by_word[row["delimiter"].strip()] if row["delimiter"].strip() else None,
                decimal=row["decimal_mark"].strip() or None,
            )
    return declared


def declared_for(lab: str | None) -> Declared | None:
    return lab_dialects().get(lab) if lab else None

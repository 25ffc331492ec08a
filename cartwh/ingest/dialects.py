"""How one export file is written: its encoding, delimiter and decimal mark, detected per file.

Cytometry labs export from FlowJo, Infinicyt or Kaluza on lab PCs, so one folder can hold
comma-separated UTF-8 next to what Excel writes on a Spanish or German PC: semicolons, decimal
commas (and sometimes `.` grouping thousands), Windows-1252. Each file's dialect is detected
from its own bytes, or declared per lab (the `cytometry_lab_dialects` seed), and a file whose
dialect cannot be told is refused with its row and a sentence: a guessed decimal mark would
silently turn 1.234 cells/µL into 1234.

Detection, in order:
- encoding: a UTF-8 or UTF-16 byte-order mark says so; text that is valid UTF-8 is UTF-8;
  anything else is read as Windows-1252 (the `µ` of `cells/µL` and accented gate names are where
  it shows); bytes Windows-1252 does not define fail.
- delimiter: the candidate (`,` `;` tab) that splits the header into more than one cell and every
  record into the same number of cells; none or several: the file fails.
- decimal mark: from the numbers themselves. `12,5` or `1.234,5` can only be decimal commas,
  `12.5`, `0.123` or `4.43E+05` only decimal points; `1.234` (one group of three digits) could be
  either, so a file with nothing but such numbers fails, as does a file with both marks.
Numbers are then rewritten with a decimal point and no thousands separator, digit for digit
(trailing zeros included), so the written precision survives.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass

from cartwh.ingest.errors import ExportError

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
DECIMAL_MARKS = (".", ",")
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "cp1252")
_DELIMITER_SAMPLE = 64 * 1024  # characters of a file the delimiter is told from


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


CANONICAL = Dialect()


@dataclass(frozen=True)
class Declared:
    """A lab's declaration (seed row): any field left None is detected."""

    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None


# A number as a spreadsheet or FlowJo writes it, with `P` the decimal mark and `G` the grouping
# mark: 12, 12.5, .5, 4.43E+05, 1.234.567,8 ...
_SIGN, _EXP = r"[+-]?", r"(?:[eE][+-]?\d+)?"


def _number(point: str, group: str | None) -> re.Pattern:
    p = re.escape(point)
    plain = rf"(?:\d+(?:{p}\d*)?|{p}\d+)"
    if group is None:
        return re.compile(rf"{_SIGN}{plain}{_EXP}")
    g = re.escape(group)
    return re.compile(rf"{_SIGN}(?:{plain}|[1-9]\d{{0,2}}(?:{g}\d{{3}})+(?:{p}\d*)?){_EXP}")


# Evidence for a decimal mark. A single group of exactly three digits after the mark, with one to
# three non-zero-led digits before it (1.234, 12,500), could be a decimal or a thousands group.
_AMBIGUOUS = re.compile(r"[+-]?[1-9]\d{0,2}[.,]\d{3}")
_POINT = [
    re.compile(rf"{_SIGN}(?:\d*\.\d+|\d+\.){_EXP}"),
    re.compile(rf"{_SIGN}\d+[eE][+-]?\d+"),
    re.compile(rf"{_SIGN}[1-9]\d{{0,2}}(?:,\d{{3}})+\.\d*{_EXP}"),
    re.compile(r"[+-]?[1-9]\d{0,2}(?:,\d{3}){2,}"),
]
_COMMA = [
    re.compile(rf"{_SIGN}(?:\d*,\d+|\d+,){_EXP}"),
    re.compile(rf"{_SIGN}[1-9]\d{{0,2}}(?:\.\d{{3}})+,\d*{_EXP}"),
    re.compile(r"[+-]?[1-9]\d{0,2}(?:\.\d{3}){2,}"),
]


def decode(content: bytes, name: str, encoding: str | None = None) -> tuple[str, str]:
    """(text, encoding) of a file's bytes: the declared encoding, else detected (module doc)."""
    if encoding is None:
        if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding = "utf-16"
        elif content.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        else:
            try:
                return content.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                encoding = "cp1252"
    try:
        return content.decode(encoding), encoding
    except UnicodeDecodeError as error:
        row = content[: error.start].count(b"\n") + 1 if encoding != "utf-16" else None
        what = "not Windows-1252 or UTF-8 text" if encoding == "cp1252" else f"not {encoding} text"
        raise ExportError(name, f"{what} ({error.reason} at byte {error.start})", row=row) from error


def _split(text: str, delimiter: str) -> list[list[str]] | None:
    """The records of `text` split at `delimiter`, or None when the CSV does not parse at all."""
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error:
        return None


def _delimiter(text: str, name: str) -> str:
    """The candidate that splits the header into several cells; when several do, the one that
    splits more records into as many cells as its header (malformed rows do not decide it: they
    are quarantined later); a tie fails."""
    scores = {}
    head = (
        text[: text.rfind("\n", 0, _DELIMITER_SAMPLE) + 1] or text
    )  # whole lines: enough to tell, cheap to split three ways
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


def _decimal(records: list[list[str]], name: str) -> str:
    """The decimal mark the numbers show (module doc); the header row is not data."""
    first: dict[str, tuple[int, str]] = {}
    ambiguous = None
    for row, record in enumerate(records[1:], start=2):
        for cell in record:
            cell = cell.strip()
            if not cell or not cell[-1].isdigit() and not cell.endswith((".", ",")):
                continue
            if _AMBIGUOUS.fullmatch(cell):
                ambiguous = ambiguous or (row, cell)
            elif any(p.fullmatch(cell) for p in _POINT):
                first.setdefault(".", (row, cell))
            elif any(p.fullmatch(cell) for p in _COMMA):
                first.setdefault(",", (row, cell))
        if len(first) == 2:
            (r1, c1), (r2, c2) = first["."], first[","]
            raise ExportError(
                name,
                f"both decimal marks: {c1!r} in row {r1} has a decimal point and {c2!r} in row "
                f"{r2} a decimal comma; declare the lab's decimal mark",
                row=max(r1, r2),
            )
    if first:
        return next(iter(first))
    if ambiguous:
        row, cell = ambiguous
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
    delimiter = declared.delimiter or _delimiter(text, name)
    decimal = declared.decimal
    if decimal is None:
        records = _split(text, delimiter) or []
        decimal = _decimal(records, name)
    return Dialect(encoding, delimiter, decimal), text


def number_normaliser(dialect: Dialect):
    """cell -> the cell with a decimal point and no grouping, digit for digit, when it is a number
    in `dialect`; any other cell unchanged (it is then checked, and reported, as written)."""
    if dialect.decimal == "." and dialect.thousands is None:
        return lambda cell: cell
    pattern, group = _number(dialect.decimal, dialect.thousands), dialect.thousands

    def normalise(cell: str) -> str:
        stripped = cell.strip()
        if not pattern.fullmatch(stripped):
            return cell
        if group:
            stripped = stripped.replace(group, "")
        return stripped.replace(dialect.decimal, ".")

    return normalise


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

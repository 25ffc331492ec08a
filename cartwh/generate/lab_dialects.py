"""Write a population statistics table as a lab's software and PC would: a pure transform of the
canonical table (`cytometry_export.statistics_table`), so anything else the generator changes in
that table (faults, bead events) is written in every dialect alike.

- `canonical`: the contract's own CSV (comma, decimal point, UTF-8, `Sample` header).
- `flowjo_csv`: FlowJo v10's table editor: the sample column unnamed, a comma at the end of every
  line, frequencies named with their unit (`Freq. of Parent (%)`), Mean and SD rows, event counts
  of 100,000 or more in E-notation (with every digit of the count, so nothing is rounded).
- `flowjo_txt`: the same as tab-separated text (`.txt`), CR LF line ends.
- `excel_semicolon`: the table opened and saved by Excel on a Spanish PC: `;`, decimal commas,
  event counts grouped by `.` (50.000), Windows-1252, CR LF.
- `per_tube_long`: one row per tube x population x statistic (`Tube`, `Population`, `Statistic`,
  `Value`, Infinicyt's spellings `Events`, `% Parent`, `% Total`, `Cells/µL`), no summary rows.
Every number keeps the digits the canonical table has, so the marts do not depend on the dialect.
"""

from __future__ import annotations

import csv
import io

import pandas as pd

from cartwh.contract.cytometry import ABSOLUTE, COUNT, FREQ_PARENT, FREQ_TOTAL, HEADER_SEPARATOR, is_summary_row

DIALECTS = ("canonical", "flowjo_csv", "flowjo_txt", "excel_semicolon", "per_tube_long")
SUFFIX = {"flowjo_txt": ".txt"}  # the others are .csv
_FLOWJO_NAMES = {FREQ_PARENT: "Freq. of Parent (%)", FREQ_TOTAL: "Freq. of Total (%)"}
_LONG_NAMES = {COUNT: "Events", FREQ_PARENT: "% Parent", FREQ_TOTAL: "% Total", ABSOLUTE: "Cells/µL"}


def suffix(dialect: str) -> str:
    return SUFFIX.get(dialect, ".csv")


def render(table: pd.DataFrame, dialect: str) -> bytes:
    """The bytes of `table` (sample column first, `<gate path> | <statistic>` columns) in `dialect`."""
    header, *rows = list(csv.reader(io.StringIO(table.to_csv(index=False, lineterminator="\n"))))
    if dialect == "canonical":
        return _write([header, *rows], ",", "\n", "utf-8")
    statistics = [column.rpartition(HEADER_SEPARATOR)[2] for column in header]
    if dialect == "per_tube_long":
        long = [["Tube", "Population", "Statistic", "Value"]]
        for row in rows:
            if not is_summary_row(row[0]):
                long += [
                    [row[0], column.rpartition(HEADER_SEPARATOR)[0], _LONG_NAMES[stat], value]
                    for column, stat, value in zip(header[1:], statistics[1:], row[1:], strict=True)
                    if value
                ]
        return _write(long, ",", "\r\n", "utf-8")
    if dialect in ("flowjo_csv", "flowjo_txt"):
        named = [""] + [_flowjo_name(column, stat) for column, stat in zip(header[1:], statistics[1:], strict=True)]
        body = [
            [row[0]] + [_e_notation(v) if s == COUNT else v for v, s in zip(row[1:], statistics[1:], strict=True)]
            for row in rows
        ]
        delimiter, ends = ("\t", "\r\n") if dialect == "flowjo_txt" else (",", "\n")
        return _write([[*r, ""] for r in [named, *body]], delimiter, ends, "utf-8")  # the trailing delimiter
    if dialect == "excel_semicolon":
        body = [
            [row[0]]
            + [_grouped(v) if s == COUNT else v.replace(".", ",") for v, s in zip(row[1:], statistics[1:], strict=True)]
            for row in rows
        ]
        return _write([header, *body], ";", "\r\n", "cp1252")
    raise ValueError(f"unknown cytometry dialect {dialect!r} (one of {', '.join(DIALECTS)})")


def _flowjo_name(column: str, statistic: str) -> str:
    path = column.rpartition(HEADER_SEPARATOR)[0]
    return f"{path}{HEADER_SEPARATOR}{_FLOWJO_NAMES[statistic]}" if statistic in _FLOWJO_NAMES else column


def _e_notation(value: str) -> str:
    """A count of 100,000 or more as FlowJo writes big numbers (4.43012E+05), every digit kept."""
    if not value or "." in value or abs(int(value)) < 100_000:
        return value
    digits = value.lstrip("-").rstrip("0") or "0"
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{'-' if value.startswith('-') else ''}{mantissa}E+{len(value.lstrip('-')) - 1:02d}"


def _grouped(value: str) -> str:
    """An integer count grouped by '.' in thousands (50.000), as Excel's number format shows it;
    a summary row's decimal mean keeps a decimal comma."""
    if not value or not value.lstrip("-").isdigit():
        return value.replace(".", ",")
    return f"{int(value):,}".replace(",", ".")


def _write(rows: list[list[str]], delimiter: str, ends: str, encoding: str) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter, lineterminator=ends).writerows(rows)
    return out.getvalue().encode(encoding)

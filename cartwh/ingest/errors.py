"""What goes wrong with an export, said so a data manager can find it: file, row, column."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One quarantined row (or header cell): where it is and why it was set aside."""

    row: int  # spreadsheet numbering: the header is row 1
    column: str | None
    reason: str
    value: str | None = None  # never the value of an identifier column


class ExportError(Exception):
    """A file that cannot be read at all; nothing of it is loaded."""

    def __init__(self, file: str, message: str, row: int | None = None, column: str | None = None):
        self.file, self.row, self.column = file, row, column
        where = ", ".join(p for p in (f"row {row}" if row else "", f"column '{column}'" if column else "") if p)
        super().__init__(f"{file}{' (' + where + ')' if where else ''}: {message}")


class IngestError(Exception):
    """Some files of a source failed; every other file of the run was loaded."""

    def __init__(self, failures: list[ExportError]):
        self.failures = failures
        lines = "\n".join(f"  - {failure}" for failure in failures)
        super().__init__(f"{len(failures)} export file(s) could not be ingested:\n{lines}")


class WarehouseLayoutError(Exception):
    """The warehouse keeps a raw table in a layout this version no longer writes: nothing is
    ingested until `cartwh rebuild` reloads it from the archive."""

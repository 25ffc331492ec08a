"""Files in a source's folder that no source reads (raw.unrecognised_files): what the data
manager's report lists, and the counts the analysts' page and the run summary give. Ingestion
finds them and records tonight's list (cartwh.ingest.unrecognised).

raw.unrecognised_files holds what is in the landing folder now: a file removed (or renamed to
.csv and landed) leaves it at the next ingestion of its source; `first_seen` survives the nights
the file stays.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from cartwh.warehouse.schema import has_table

UNRECOGNISED_FILES = "raw.unrecognised_files"  # declared in cartwh.warehouse.schema


@dataclass(frozen=True)
class Unrecognised:
    file: str  # path inside the landing folder
    kind: str
    bytes: int
    advice: str

    @property
    def message(self) -> str:
        return f"{self.file}: not a recognised export ({self.kind}): {self.advice}"


def unrecognised_files(con: duckdb.DuckDBPyConnection) -> list[Unrecognised]:
    """What the landing folder holds that no source reads, for the data manager's report."""
    if not has_table(con, UNRECOGNISED_FILES):  # an older warehouse, read-only
        return []
    rows = con.execute(f"SELECT file, kind, bytes, advice FROM {UNRECOGNISED_FILES} ORDER BY file").fetchall()
    return [Unrecognised(*row) for row in rows]


def unrecognised_counts(files: list[Unrecognised]) -> list[tuple[str, str, int]]:
    """(folder, kind, files) for the analysts' page: a landed name can hold an MRN, so the
    names themselves are listed only in the data manager's restricted report."""
    groups: dict[tuple[str, str], int] = {}
    for f in files:
        folder = f.file.rsplit("/", 1)[0] if "/" in f.file else "."
        groups[(folder, f.kind)] = groups.get((folder, f.kind), 0) + 1
    return [(folder, kind, n) for (folder, kind), n in sorted(groups.items())]


def summary(files: list[Unrecognised]) -> str | None:
    """One line for the run summary: how many, of which kind, in which folder (no file names)."""
    if not files:
        return None
    parts = ", ".join(f"{n} {kind} in {folder}/" for folder, kind, n in unrecognised_counts(files))
    return (
        f"{len(files)} file(s) in the landing folder are not recognised exports and were not read ({parts}): "
        "what each is and what to do is in the data manager's report"
    )

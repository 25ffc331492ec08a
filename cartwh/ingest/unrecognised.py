"""Files in a source's folder that no source reads: reported, never ignored without a word.

Ingestion lists every file of a source's folder (cartwh.ingest.load._listed); one that no source
reading that folder accepts is *unrecognised*: a spreadsheet saved instead of a CSV, a text or
JSON export, a stray note, or a download its source knows but does not use (`Loader.unused`:
REDCap's users, roles, logging), reported as what it is. Each is reported with what it is and what to do, in the night's
IngestReport, the log, the run summary (counts by folder and kind, no file names: a landed name
may hold an MRN) and raw.unrecognised_files, which the data manager's report lists (raw is never
published). An unrecognised file is not a failure of the night, unless a source's folder holds
nothing else (expectations/source_health.py: `nothing_recognised`). The table and its readers
are cartwh.warehouse.unrecognised_files.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from cartwh.ingest.warehouse import insert_rows
from cartwh.warehouse.unrecognised_files import UNRECOGNISED_FILES, Unrecognised

# What a file of each kind usually is, and how to land it instead.
_ADVICE = {
    ".xls": "a spreadsheet, not a CSV export: export CSV instead (REDCap: Data Exports, CSV raw; FlowJo: the "
    "table editor's Save as CSV), or save the sheet as CSV (UTF-8)",
    ".txt": "a text export: save it as comma-separated values with the .csv extension",
    ".json": "JSON is not a record export here: export the records as CSV",
    ".zip": "an archive: unpack it into the folder",
    ".pdf": "a document, not an export: keep it outside the landing folder",
}
_ADVICE |= {".xlsx": _ADVICE[".xls"], ".ods": _ADVICE[".xls"], ".tsv": _ADVICE[".txt"], ".gz": _ADVICE[".zip"]}


def is_csv(path: Path) -> bool:
    """The default of Loader.accepts (cartwh.ingest.loader): a CSV export, whatever the case of its extension."""
    return path.suffix.lower() == ".csv"


def unrecognised(path: Path, landing: Path, known_as: str | None = None) -> Unrecognised:
    """`known_as`: what the file is when its source recognises it as a file it does not use."""
    kind = path.suffix.lower() or "no extension"
    advice = _ADVICE.get(kind, "exports land as .csv files: export CSV, or move the file out of the landing folder")
    if known_as:
        kind, advice = (
            known_as,
            f"{known_as}: cartwh does not use it, so it is not read; keep it out of the landing folder",
        )
    try:
        size = path.stat().st_size
    except OSError:  # gone since it was listed: still reported, as it was seen
        size = 0
    return Unrecognised(path.relative_to(landing).as_posix(), kind, size, advice)


def record_unrecognised(con: duckdb.DuckDBPyConnection, source: str, files: list[Unrecognised]) -> None:
    """Replace the source's rows of raw.unrecognised_files with tonight's list, each file keeping
    the night it was first seen."""
    con.execute("BEGIN TRANSACTION")
    try:
        first = dict(
            con.execute(f"SELECT file, first_seen FROM {UNRECOGNISED_FILES} WHERE source = ?", [source]).fetchall()
        )
        con.execute(f"DELETE FROM {UNRECOGNISED_FILES} WHERE source = ?", [source]).fetchall()
        now = con.execute("SELECT current_timestamp::TIMESTAMP").fetchall()[0][0]
        insert_rows(
            con,
            UNRECOGNISED_FILES,
            [(source, f.file, f.kind, f.bytes, f.advice, first.get(f.file, now), now) for f in files],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise

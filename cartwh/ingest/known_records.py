"""What ingestion knows of the records between runs: each REDCap export version's identifier
needles and its records' birth dates (cartwh.ingest.identifiers), each manifest version's tubes
and the records they belong to. A statistics or manifest batch checks its text against these without reading the archive
again, so a night costs what landed, not what the archive holds.

They are identifiers (names, MRNs and birth dates in every spelling; FCS file names and record
ids), so they live in the restricted area beside the exports they come from:
`<archive>/known_records.duckdb`, 0600 in the archive's 0700 folder, never in the warehouse.
Ingestion attaches the file for the duration of a source (`attached`) and keys every entry by
the checksum of the file version it came from; a batch reads the entries of the versions that
are current in raw.landed_files. A batch's entries are added once it committed (`remember_*`,
Loader.remember); versions current but missing (a run stopped between its commit and that, or
a store older than the warehouse) are read once from their archived copies (`sync`). Everything
in it can be derived again from the archive: deleting the file costs one slower night.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from cartwh.contract.free_text import identifying
from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.ingest import identifiers
from cartwh.ingest.csv_reader import BATCH, ROWS, ExportFile
from cartwh.ingest.identifiers import (
    ARCHIVED_PATH,
    BATCH_BIRTH_DATES,
    BATCH_NEEDLES,
    KNOWN_BIRTH_DATES,
    KNOWN_NEEDLES,
    KNOWN_TUBES,
    KNOWN_VERSIONS,
)
from cartwh.ingest.warehouse import LANDED_FILES, insert_rows, quote_literal, transaction
from cartwh.warehouse.permissions import make_private
from cartwh.warehouse.schema import KNOWN_RECORDS, ensure_schema

FILE = "known_records.duckdb"
VERSIONS = KNOWN_VERSIONS
_SOURCES = ("redcap", "cytometry_manifest")
# A REDCap batch's entries, from its temp tables (cartwh.ingest.identifiers.register_identifiers).
_REDCAP_ENTRIES = (
    f"INSERT INTO {KNOWN_NEEDLES} SELECT * FROM {BATCH_NEEDLES}",
    f"INSERT INTO {KNOWN_BIRTH_DATES} SELECT * FROM {BATCH_BIRTH_DATES}",
)


@contextmanager
def attached(con: duckdb.DuckDBPyConnection, archive: Path) -> Iterator[None]:
    """The store attached to `con` as `known`, up to date with the current versions (`sync`)."""
    path = Path(archive) / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"ATTACH {quote_literal(str(path))} AS known")
    try:
        make_private(path)
        ensure_schema(con, KNOWN_RECORDS)  # its tables, declared in cartwh.warehouse.schema
        sync(con)
        yield
    finally:
        con.execute("DETACH known")


def sync(con: duckdb.DuckDBPyConnection) -> None:
    """Add the entries of every current version the store lacks, read from its archived copy."""
    missing = con.execute(
        f"""SELECT source, sha256, {ARCHIVED_PATH}, file FROM {LANDED_FILES}
            WHERE superseded_by IS NULL AND source IN ({", ".join(map(quote_literal, _SOURCES))})
                  AND sha256 NOT IN (SELECT sha256 FROM {VERSIONS}) ORDER BY load_id"""
    ).fetchall()
    redcap = [(sha, path, name) for source, sha, path, name in missing if source == "redcap"]
    manifests = [(sha, path, name) for source, sha, path, name in missing if source == "cytometry_manifest"]
    if redcap:
        identifiers.archived_identifiers(con, redcap)
        dated = [f.name for f in project_dictionary().fields if identifying(f) and f.sql_type == "DATE"]
        identifiers.needles(con, BATCH_NEEDLES, dated)
        identifiers.birth_dates(con, BATCH_BIRTH_DATES, dated)
        _add(con, "redcap", [sha for sha, _, _ in redcap], *_REDCAP_ENTRIES)
    if manifests:
        records = identifiers.archived_tube_records(con, manifests)
        _add(con, "cytometry_manifest", [sha for sha, _, _ in manifests], f"INSERT INTO {KNOWN_TUBES} {records}")


def remember_needles(con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> None:
    """After a REDCap batch committed: its needles and birth dates (cartwh.ingest.identifiers.register_identifiers)."""
    _add(con, "redcap", [f.checksum for f in files], *_REDCAP_ENTRIES)


def remember_tube_records(con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> None:
    """After a manifest batch committed: every tube of its rows (quarantined ones too: a tube's
    name is checked against its record's identifiers wherever it turns up)."""
    columns = {r[0] for r in con.execute(f"DESCRIBE {ROWS}").fetchall()}
    # _file_sites: the site each file declares (cartwh.ingest.keys)
    rows = f"{ROWS} m JOIN {BATCH} b ON b.load_id = m._load_id JOIN _file_sites f ON f.load_id = m._load_id"
    records = identifiers.tube_records(rows, "b.checksum", "m.site" if "site" in columns else None, "f.site")
    _add(con, "cytometry_manifest", [f.checksum for f in files], f"INSERT INTO {KNOWN_TUBES} {records}")


def _add(con: duckdb.DuckDBPyConnection, source: str, versions: list[str], *inserts: str) -> None:
    """Add the versions' entries (`inserts`) and mark them known, in one transaction of the store."""
    with transaction(con):
        for insert in inserts:
            con.execute(insert)
        insert_rows(con, VERSIONS, [(sha, source) for sha in versions])

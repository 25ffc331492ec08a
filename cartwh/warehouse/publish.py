"""Publish the analysts' copy of the warehouse: what they need, nothing that names a patient,
written so that neither a crash nor a power cut can leave a torn file under its name.

What is published (README "Querying" says why):
- `marts`, `analytics`, `reference` (the seeds: thresholds and windows) and `ops` (run history),
  table by table; a view in these schemas is published as a table of its rows, so nothing in
  the copy refers to a schema it does not hold;
- `quality`: a de-identified view of data quality (cartwh/quality/published_quality.py).
Not published: `raw` (typed exports: file names, free text, quarantined values), `staging` and
`intermediate` (views and tables over raw), the working `quality` tables (file names, rows and
the failing values themselves). Tables are copied into a new DuckDB file attached to the run's
connection; the run holds the writer lock, and one transaction reads one consistent state. The
marts and statistics are small next to raw: the demo's copy takes about 0.1 s, marts the size of
100,000 patients' (1.1 M kinetics rows) under 1 s.

Crash safety: the new file is written in a folder of the pipeline's own beside the published one
(`.publishing/`, 0700), complete, checkpointed (no write-ahead log), readable, carries its final
mode and group (cartwh/warehouse/permissions.py) and is fsynced before it is renamed over the published
one; the folder is fsynced after the rename, so the rename itself survives a power cut. A rename
is atomic: a reader opens either the old file or the new one, never a mix; a reader that has the
old file open keeps reading it; a run that fails before the rename (a full disk) leaves the
published copy exactly as it was and removes what it wrote (one killed on the way leaves it,
removed by the next publication).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

from cartwh.quality.published_quality import DEIDENTIFIED_QUALITY
from cartwh.warehouse import permissions
from cartwh.warehouse.connection import confine, quote, quote_literal, transaction

PUBLISHED_SCHEMAS = ("marts", "analytics", "reference", "ops")
# Columns of a published table that stay in the working warehouse: a failed run's message can
# quote a landed file's name, and labs and sites put MRNs in file names.
WITHHELD_COLUMNS = {("ops", "run_history"): ("message",)}
_COPY = "analysts_copy"  # the new file's name while attached to the working connection


class PublishError(Exception):
    pass


def copy_folder(published: Path) -> Path:
    """Where the new copy is written before it is renamed over `published`: a folder of the
    pipeline's own beside it (the one place outside the archive a run's warehouse connection may
    write, whatever files DuckDB makes beside a database while it checkpoints)."""
    return Path(published).parent / ".publishing"


def publish(working: duckdb.DuckDBPyConnection, published: Path) -> Path:
    """Write the analysts' copy of the database `working` is connected to, and rename it over
    `published`. A copy that fails on the way (a full disk, a check) is removed, not left behind."""
    published = Path(published)
    published.parent.mkdir(parents=True, exist_ok=True)  # its mode: the run's (cartwh.warehouse.permissions)
    folder = copy_folder(published)
    confine(working, folders=[folder])
    shutil.rmtree(folder, ignore_errors=True)  # a killed run's copy
    folder.mkdir()
    temporary = folder / published.name
    try:
        _write_copy(working, temporary)
        wal = Path(f"{temporary}.wal")
        if wal.exists() and wal.stat().st_size:
            raise PublishError(f"{temporary}: the write-ahead log is not empty after a checkpoint; not published")
        permissions.share_file(temporary)  # the final mode and group before the name is taken
        try:
            duckdb.connect(str(temporary), read_only=True).close()
        except duckdb.Error as error:
            raise PublishError(f"the analysts' copy {temporary} cannot be opened ({error}); not published") from error
        _fsync(temporary)
        os.replace(temporary, published)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    _fsync(published.parent)
    return published


def _write_copy(working: duckdb.DuckDBPyConnection, target: Path) -> None:
    source = working.execute("SELECT current_database()").fetchall()[0][0]
    working.execute(f"ATTACH {quote_literal(str(target))} AS {_COPY}")
    try:
        with transaction(working):  # one state of the working warehouse, read once
            _copy_tables(working, source)
        working.execute(f"CHECKPOINT {_COPY}")  # everything in the file, nothing in its write-ahead log
    finally:
        working.execute(f"DETACH {_COPY}")


def _copy_tables(working: duckdb.DuckDBPyConnection, source: str) -> None:
    for schema, name in _relations(working, source):
        working.execute(f"CREATE SCHEMA IF NOT EXISTS {_COPY}.{quote(schema)}")
        withheld = _withheld(working, source, schema, name)
        columns = f"* EXCLUDE ({', '.join(withheld)})" if withheld else "*"
        working.execute(
            f"CREATE TABLE {_COPY}.{quote(schema)}.{quote(name)} AS SELECT {columns} "
            f"FROM {quote(source)}.{quote(schema)}.{quote(name)}"
        )
    present = _existing_tables(working, source)
    for name, needs, query in DEIDENTIFIED_QUALITY:
        if set(needs) <= present:  # e.g. no quarantine table yet: no quarantine counts
            working.execute(f"CREATE SCHEMA IF NOT EXISTS {_COPY}.quality")
            working.execute(f"CREATE TABLE {_COPY}.quality.{name} AS {query.format(db=source)}")


def _withheld(con: duckdb.DuckDBPyConnection, database: str, schema: str, name: str) -> list[str]:
    """The WITHHELD_COLUMNS the table has (a warehouse from before a column existed lacks it)."""
    wanted = WITHHELD_COLUMNS.get((schema, name), ())
    if not wanted:
        return []
    present = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
            [database, schema, name],
        ).fetchall()
    }
    return [c for c in wanted if c in present]


def _relations(con: duckdb.DuckDBPyConnection, database: str) -> list[tuple[str, str]]:
    """Tables and views of the published schemas, in a stable order."""
    return con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name IN ? "
        "UNION ALL SELECT schema_name, view_name FROM duckdb_views() "
        "WHERE database_name = ? AND schema_name IN ? AND NOT internal ORDER BY ALL",
        [database, list(PUBLISHED_SCHEMAS), database, list(PUBLISHED_SCHEMAS)],
    ).fetchall()


def _existing_tables(con: duckdb.DuckDBPyConnection, database: str) -> set[str]:
    rows = con.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE database_name = ?", [database]
    ).fetchall()
    return {t for (t,) in rows}


def _fsync(path: Path) -> None:
    """Flush a file's bytes, or a folder's entries, to the disk (os.fsync on a read-only handle,
    which Linux accepts for both)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

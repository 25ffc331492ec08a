"""Publish the working warehouse as the analysts' copy, atomically.

The working warehouse is where runs write; analysts read the published copy. Publishing
checkpoints the working database (everything in the file, nothing left in its write-ahead
log), copies the file next to the published one, opens the copy to make sure it is a
readable warehouse, and renames it over the old one. The run holds the writer lock and its
connection is idle while the file is copied, so the bytes copied are one consistent state. A
file copy costs what the disk costs (about 2 s for the 100,000-patient registry), where
re-encoding every table (COPY FROM DATABASE) took 25 s.

A rename is atomic: a reader opens either the old file or the new one, never a mix; a reader
that already has the old file open keeps reading it; a run that dies at any point before the
rename leaves the published copy exactly as it was (at worst a stray temporary file, removed
next time).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

from cartwh.ingest.warehouse import remove_database


class PublishError(Exception):
    pass


def publish(working: duckdb.DuckDBPyConnection, published: Path) -> Path:
    """Copy the database `working` is connected to into `published`, atomically."""
    published = Path(published)
    published.parent.mkdir(parents=True, exist_ok=True)
    source = Path(working.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
                  .fetchall()[0][0])  # fmt: skip
    working.execute("CHECKPOINT")
    wal = Path(f"{source}.wal")
    if wal.exists() and wal.stat().st_size:
        raise PublishError(f"{source}: the write-ahead log is not empty after a checkpoint; not published")
    temporary = published.with_name(published.name + ".next")
    remove_database(temporary)
    shutil.copyfile(source, temporary)
    try:
        duckdb.connect(str(temporary), read_only=True).close()
    except duckdb.Error as error:
        raise PublishError(f"the copy of {source} cannot be opened ({error}); not published") from error
    os.replace(temporary, published)
    return published

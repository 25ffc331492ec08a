"""Publish the working warehouse as the analysts' copy, atomically.

The working warehouse is where runs write; analysts read the published copy. Publishing
copies the whole database into a new file next to the published one (DuckDB's COPY FROM
DATABASE: a consistent snapshot) and renames it over the old one. A rename is atomic: a
reader opens either the old file or the new one, never a mix; a reader that already has the
old file open keeps reading it; a run that dies at any point before the rename leaves the
published copy exactly as it was (at worst a stray temporary file, removed next time).
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from cartwh.ingest.warehouse import quote, quote_literal, remove_database


def publish(working: duckdb.DuckDBPyConnection, published: Path) -> Path:
    """Copy the database `working` is connected to into `published`, atomically."""
    published = Path(published)
    published.parent.mkdir(parents=True, exist_ok=True)
    temporary = published.with_name(published.name + ".next")
    remove_database(temporary)
    source = working.execute("SELECT current_database()").fetchall()[0][0]
    working.execute(f"ATTACH {quote_literal(str(temporary))} AS next_published")
    try:
        working.execute(f"COPY FROM DATABASE {quote(source)} TO next_published")
    finally:
        working.execute("DETACH next_published")  # checkpoints the copy: no WAL left beside it
    os.replace(temporary, published)
    return published

"""`cartwh rebuild`: the warehouse again from scratch, from the archived exports.

Every file version ever ingested is in the content-addressed archive, and the ledger
(raw.landed_files) says in which order and under which name it landed. Replaying that ledger
into a new, empty warehouse reproduces the raw layer (quarantine and supersession included);
the main job then rebuilds marts, checks, statistics and publishes. Raw exports are only read:
the landing folder and the archive are never modified. The old working warehouse is kept
beside the new one until the next rebuild.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import duckdb

from cartwh.ingest import ingest_source
from cartwh.ingest.warehouse import connect, remove_database

LEDGER = "SELECT source, file, archive_path FROM raw.landed_files ORDER BY load_id"


def read_ledger(warehouse: Path) -> list[tuple[str, str, str]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(LEDGER).fetchall()
    finally:
        con.close()


def replay(ledger: list[tuple[str, str, str]], target: Path, archive: Path) -> int:
    """Ingest every archived version in ledger order into a new warehouse. Consecutive versions
    of one source land together (one batched ingestion), until a name comes back: a later
    version of a file must land after the one it supersedes."""
    con = connect(target)  # creates the raw schema
    try:
        for source, names in _landings(ledger):
            with tempfile.TemporaryDirectory() as folder:
                landing = Path(folder)
                for name, archived in names.items():
                    path = landing / name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(archived, path)
                ingest_source(con, landing, source, archive)
    finally:
        con.close()
    return len(ledger)


def _landings(ledger: list[tuple[str, str, str]]) -> list[tuple[str, dict[str, str]]]:
    """The ledger cut into landings: (source, {name: archived path}), no name twice in one."""
    landings: list[tuple[str, dict[str, str]]] = []
    for source, name, archived in ledger:
        if not landings or landings[-1][0] != source or name in landings[-1][1]:
            landings.append((source, {}))
        landings[-1][1][name] = archived
    return landings


def rebuild_raw(working: Path, ledger_from: Path, archive: Path) -> int:
    """Replace the working warehouse by a replay of the ledger of `ledger_from` (the working
    warehouse itself, or the published copy when the working one is lost)."""
    ledger = read_ledger(ledger_from)
    fresh = working.with_name(working.stem + ".rebuilding.duckdb")
    remove_database(fresh)
    replayed = replay(ledger, fresh, archive)
    if working.exists():
        os.replace(working, working.with_name(working.stem + ".before-rebuild.duckdb"))
    os.replace(fresh, working)
    return replayed

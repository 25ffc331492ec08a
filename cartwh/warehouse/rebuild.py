"""`cartwh rebuild`: the warehouse again from scratch, from the archive alone.

Every file version ever ingested is in the content-addressed archive, and the archive's own
ledger (cartwh.warehouse.archive_ledger) says in which order and under which name it landed. Replaying
that ledger into a new, empty warehouse reproduces the raw layer (quarantine and supersession
included) without reading any warehouse, so it works when the working warehouse is corrupt or
lost and the published copy holds no raw layer; the main job then rebuilds marts, checks,
statistics and publishes. Raw exports are only read: the landing folder and the archived files
are never modified (the ledger is only appended to).

An archive from before the ledger existed has none: the first rebuild seeds it once from
raw.landed_files of the working warehouse, or of the published copy when the working one cannot
be read. The old working warehouse, and its write-ahead log if one was left behind (a stale or
corrupt WAL), are set aside as `<name>.before-rebuild.duckdb[.wal]` until the next rebuild, so
the fresh file never meets a log that is not its own. The run history (ops.run_history) is
carried over from the old warehouse, or the published copy, when either can still be read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

import duckdb

from cartwh.ingest.load import SOURCES, ingest_source
from cartwh.warehouse.archive_ledger import ArchiveLedger, LedgerEntry, ledger_path, read_ledger
from cartwh.warehouse.connection import connect, quote_literal, remove_database
from cartwh.warehouse.schema import has_table

log = logging.getLogger(__name__)


class RebuildError(Exception):
    """The archive cannot reproduce the warehouse (no ledger, a file missing or altered)."""


def rebuild_raw(working: Path, ledger_from: Path | list[Path], archive: Path) -> int:
    """Replace the working warehouse by a replay of the archive's ledger; how many file versions
    were replayed. `ledger_from`: the warehouse(s) whose raw.landed_files seed the ledger, once,
    if the archive has none yet (the first readable one is used)."""
    seeds = [Path(ledger_from)] if isinstance(ledger_from, (str, Path)) else [Path(w) for w in ledger_from]
    if not read_ledger(archive):
        seed_ledger(archive, seeds)
    entries = read_ledger(archive)
    if not entries:
        raise RebuildError(
            f"Nothing to rebuild from: the archive {archive} has no ledger ({ledger_path(archive).name}) "
            "and no readable warehouse holds one to seed it."
        )
    _check_archive(entries, Path(archive))
    fresh = working.with_name(working.stem + ".rebuilding.duckdb")
    remove_database(fresh)
    replay(entries, fresh, archive, history_from=[working, *seeds])
    _set_aside(working)
    os.replace(fresh, working)  # atomic: the working name always holds the old or the new warehouse
    return len(entries)


def set_aside_path(working: Path) -> Path:
    """Where a rebuild keeps the warehouse it replaced (until the next rebuild)."""
    return working.with_name(working.stem + ".before-rebuild.duckdb")


def seed_ledger(archive: Path, warehouses: list[Path]) -> Path | None:
    """Write the ledger of the first readable warehouse into the archive; which one, if any."""
    for warehouse in dict.fromkeys(Path(w) for w in warehouses):
        if not warehouse.exists():
            continue
        try:
            con = duckdb.connect(str(warehouse), read_only=True)
            try:
                ArchiveLedger(archive).sync(con)
            finally:
                con.close()
        except duckdb.Error as error:
            log.warning("cannot seed the archive's ledger from %s: %s", warehouse, error)
            continue
        return warehouse
    return None


def _check_archive(entries: list[LedgerEntry], archive: Path) -> None:
    """Every version the ledger names is in the archive with its checksum, before anything is
    replaced: a rebuild that would silently lose a version stops here."""
    for relative, checksum in dict.fromkeys((e.archive_path, e.sha256) for e in entries):
        path = archive / relative
        if not path.exists():
            raise RebuildError(
                f"{path}: listed in the archive's ledger but missing from the archive; nothing was replaced."
            )
        with open(path, "rb") as handle:
            altered = hashlib.file_digest(handle, "sha256").hexdigest() != checksum
        if altered:
            raise RebuildError(f"{path}: its content no longer matches its checksum; nothing was replaced.")


def replay(entries: list[LedgerEntry], target: Path, archive: Path, history_from: list[Path] = ()) -> int:
    """Ingest every archived version in ledger order into a new warehouse. Consecutive versions
    of one source land together (one batched ingestion), until a name comes back: a later
    version of a file must land after the one it supersedes."""
    ledger = [(e.source, e.file, str(Path(archive) / e.archive_path)) for e in entries]
    earlier = [f for w in history_from for f in (Path(w), Path(f"{w}.wal"))]
    con = connect(target, folders=[archive], files=earlier)  # creates the raw schema
    try:
        for source, names in _landings(ledger):
            with tempfile.TemporaryDirectory() as folder:
                landing = Path(folder)
                for name, archived in names.items():
                    path = landing / name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(archived, path)
                    # what the version was read with, e.g. its REDCap project
                    SOURCES[source].restore_context(archive, Path(archived).stem, landing)
                ingest_source(con, landing, source, archive)
        _carry_run_history(con, history_from)
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


def _carry_run_history(con: duckdb.DuckDBPyConnection, warehouses: list[Path]) -> None:
    """The nights recorded so far, from the first warehouse that can still be read."""
    for warehouse in dict.fromkeys(Path(w) for w in warehouses):
        if not warehouse.exists():
            continue
        try:
            con.execute(f"ATTACH {quote_literal(str(warehouse))} AS previous (READ_ONLY)")
        except duckdb.Error:
            continue
        try:
            if has_table(con, "ops.run_history", database="previous"):  # the fresh warehouse has its own (connect)
                con.execute("INSERT INTO ops.run_history BY NAME SELECT * FROM previous.ops.run_history")
                return
        except duckdb.Error as error:
            log.warning("run history of %s not carried over: %s", warehouse, error)
        finally:
            con.execute("DETACH previous")


def _set_aside(working: Path) -> None:
    """Keep the old warehouse (a hard link: the name `working` stays until the fresh file is
    renamed over it) and move any write-ahead log beside it out of the way, so the fresh file
    never meets a log that is not its own. Both are kept until the next rebuild."""
    aside = set_aside_path(working)
    wal, aside_wal = Path(f"{working}.wal"), Path(f"{aside}.wal")
    if not working.exists() and not wal.exists():
        return
    remove_database(aside)
    if working.exists():
        os.link(working, aside)
    if wal.exists():
        os.replace(wal, aside_wal)

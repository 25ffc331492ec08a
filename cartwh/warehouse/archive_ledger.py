"""The archive's own ledger: which file version landed under which name, and in which order.

The archive keeps every ingested version by content (`<xx>/<sha256>.csv`); this ledger,
`<archive>/ledger.jsonl` (one JSON object a line, only ever appended), says in which order the
versions landed and under which name in the landing folder. With the two, `cartwh rebuild`
reproduces the raw layer from the archive alone: no working or published warehouse is needed
(supersession follows from the order: a later version of a name supersedes the earlier one).

A line is written only for a version whose warehouse transaction committed: after each batch,
`ArchiveLedger.sync` appends the versions of raw.landed_files the ledger does not hold yet
(append, flush, fsync). A batch that was rolled back (a file that cannot be read, a full disk
at COMMIT, a run killed before it) therefore never reaches the ledger, and its file is retried
from the landing folder like any file that did not load. The opposite gap, a run killed or a disk
full between the COMMIT and the append, is closed by the next ingestion, which starts with the
same sync; the same sync seeds the ledger of a warehouse that predates it (raw.landed_files in
load order), the first time it runs.

The ledger and raw.landed_files are compared as multisets of (source, name, sha256) in order: a
version that legitimately lands twice (A, then B, then A again) is two lines. A line torn by a
crash in the middle of an append can only be the last line; it is ignored when read and cut off
by the next append, so every line stays whole.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

LEDGER_NAME = "ledger.jsonl"


class LedgerError(Exception):
    """The archive's ledger cannot be read (a damaged line that is not the last one)."""


@dataclass(frozen=True)
class LedgerEntry:
    source: str
    file: str  # the name in the landing folder
    sha256: str
    bytes: int
    archive_path: str  # relative to the archive: <xx>/<sha256>.csv
    landed_at: str  # ISO 8601, UTC, as raw.landed_files.loaded_at

    @property
    def key(self) -> tuple[str, str, str]:
        return self.source, self.file, self.sha256


def ledger_path(archive: Path) -> Path:
    return Path(archive) / LEDGER_NAME


def read_ledger(archive: Path) -> list[LedgerEntry]:
    """Every version the archive's ledger records, in landing order ([] when there is none)."""
    path = ledger_path(archive)
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entries.append(LedgerEntry(**json.loads(line)))
        except (ValueError, TypeError) as error:
            if number == len(lines):  # no newline after it: an append cut short by a crash
                log.warning("%s: ignoring an incomplete last line (an append cut short)", path)
                continue
            raise LedgerError(f"{path}, line {number}: not a ledger entry ({error})") from error
    return entries


def append_entries(archive: Path, entries: list[LedgerEntry]) -> None:
    """Append `entries` and make them durable before returning (fsync of the file, and of the
    folder when the file is new)."""
    if not entries:
        return
    path = ledger_path(archive)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    text = "".join(json.dumps(asdict(e), sort_keys=True) + "\n" for e in entries)
    if not new:
        _drop_torn_tail(path)
    _append_durably(path, text.encode())
    if new:
        _fsync_folder(path.parent)


def _append_durably(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _drop_torn_tail(path: Path) -> None:
    """Cut an append that a crash left unfinished (bytes after the last newline): it was never an
    entry, and removing it keeps every line of the ledger whole."""
    with open(path, "r+b") as handle:
        end = handle.seek(0, os.SEEK_END)
        position = end
        while position > 0:
            start = max(0, position - 65536)
            handle.seek(start)
            newline = handle.read(position - start).rfind(b"\n")
            if newline >= 0:
                position = start + newline + 1
                break
            position = start
        if position < end:
            log.warning("%s: removing an incomplete last line (an append cut short)", path)
            handle.truncate(position)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _entry(source: str, file: str, sha256: str, size: int, archive_path: str, loaded_at: datetime) -> LedgerEntry:
    # Relative to the archive, so a moved archive still rebuilds: the layout is by content.
    relative = Path(archive_path).parent.name + "/" + Path(archive_path).name
    return LedgerEntry(source, file, sha256, int(size), relative, loaded_at.isoformat())


# The versions a ledger holds, by the file's identity when it was read: a rebuild opens the same
# unchanged ledger once per landing it replays, and a registry's ledger has ~10^5 lines.
_HELD: dict[Path, tuple[tuple[int, int, int], Counter]] = {}


def _held_versions(archive: Path) -> Counter:
    path = ledger_path(archive)
    if not path.exists():
        return Counter()
    stat = path.stat()
    identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    cached = _HELD.get(path)
    if cached is None or cached[0] != identity:
        cached = _HELD[path] = (identity, Counter(e.key for e in read_ledger(archive)))
    return Counter(cached[1])  # a copy: sync counts matches down


class ArchiveLedger:
    """The ledger of one archive, kept in step with one warehouse's raw.landed_files."""

    def __init__(self, archive: Path):
        self.archive = Path(archive)
        self._held = _held_versions(self.archive)
        self._synced_to = None  # the highest load_id compared so far

    def sync(self, con: duckdb.DuckDBPyConnection) -> int:
        """Append the committed versions of the warehouse that the ledger lacks; how many."""
        query = "SELECT source, file, sha256, bytes, archive_path, loaded_at, load_id FROM raw.landed_files"
        params = []
        if self._synced_to is not None:
            query, params = query + " WHERE load_id > ?", [self._synced_to]
        missing = []
        for *row, load_id in con.execute(query + " ORDER BY load_id", params).fetchall():
            entry = _entry(*row)
            self._synced_to = load_id
            if self._held[entry.key]:
                self._held[entry.key] -= 1  # matched: the earliest lines match the earliest loads
            else:
                missing.append(entry)
        append_entries(self.archive, missing)
        return len(missing)

"""Has something new landed? A fingerprint of the exports in the landing folder (the files a
source reads), and the decision to start a run on it. A file still being written (modified
within the settle time) waits for the next look, so a run never ingests half a transfer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

SETTLE_SECONDS = 60.0


@dataclass(frozen=True)
class LandingState:
    fingerprint: str  # changes whenever a file is added, replaced or changed
    files: int
    newest_mtime: float


@dataclass(frozen=True)
class Decision:
    start_run: bool
    reason: str


def exports(landing: Path) -> list[Path]:
    """The files of the landing folder a source reads (cartwh.ingest.load.listed: the one rule,
    whatever the case of an extension), in name order."""
    from cartwh.ingest.load import SOURCES, listed

    return sorted({path for source in SOURCES.values() for path in listed(Path(landing), source)[0]})


def landing_state(landing: Path) -> LandingState:
    digest, newest, count = hashlib.sha256(), 0.0, 0
    for path in exports(landing):
        stat = path.stat()
        digest.update(f"{path.relative_to(landing)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        newest, count = max(newest, stat.st_mtime), count + 1
    return LandingState(digest.hexdigest()[:24], count, newest)


def arrival_decision(
    state: LandingState, cursor: str | None, now: float, settle_seconds: float = SETTLE_SECONDS
) -> Decision:
    if state.files == 0:
        return Decision(False, "the landing folder holds no export")
    if state.fingerprint == cursor:
        return Decision(False, "nothing new has landed")
    if now - state.newest_mtime < settle_seconds:
        return Decision(
            False, f"a file changed less than {settle_seconds:.0f} s ago: waiting for the transfer to settle"
        )
    return Decision(True, f"new or changed exports ({state.files} files in the landing folder)")

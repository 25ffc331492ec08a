"""Has something new landed? A fingerprint of the landing folder, and the decision to start a
run on it. A file still being written (modified within the settle time) waits for the next
look, so a run never ingests half a transfer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

SETTLE_SECONDS = 60.0
WATCHED = (".csv", ".fcs", ".wsp")  # exports, FCS files and the FlowJo workspaces beside them


@dataclass(frozen=True)
class LandingState:
    fingerprint: str  # changes whenever a file is added, replaced or changed
    files: int
    newest_mtime: float


@dataclass(frozen=True)
class Decision:
    start_run: bool
    reason: str


def landing_state(landing: Path) -> LandingState:
    digest, newest, count = hashlib.sha256(), 0.0, 0
    listed = (
        sorted(p for p in Path(landing).rglob("*") if p.suffix.lower() in WATCHED) if Path(landing).exists() else []
    )
    for path in listed:
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

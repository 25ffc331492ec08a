"""One writer at a time: DuckDB allows a single writing process, and two runs interleaving
their writes would publish a mix. Every writer (a Dagster run, `cartwh ingest`, `cartwh
rebuild`) holds an exclusive lock on `<warehouse>.lock` for its whole duration; the next one
waits. The operating system releases the lock when a process dies, so a killed run never
leaves the warehouse locked."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)
POLL_SECONDS = 2.0


class WarehouseBusy(RuntimeError):
    """Another writer held the warehouse for longer than we were willing to wait."""


@contextmanager
def writer_lock(warehouse: Path, wait_seconds: float = 6 * 3600):
    lock_file = Path(f"{warehouse}.lock")
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as handle:
        deadline = time.monotonic() + wait_seconds
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WarehouseBusy(
                        f"{warehouse} is still being written by another run{holder(warehouse)}; "
                        "try again when it has finished"
                    ) from None
                if not waited:
                    log.warning(
                        "another run is writing %s%s: waiting for it to finish (Ctrl-C stops waiting)",
                        warehouse,
                        holder(warehouse),
                    )
                    waited = True
                time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def holder(warehouse: Path) -> str:
    """Which run holds the writer lock and since when, from the marker a run leaves while it runs
    (cartwh.night.run_marker): " (run 1a2b3c4d, running since 2026-12-01 02:00 UTC)"; "" when no live
    run left one (`cartwh ingest` and `cartwh rebuild` hold the lock without a marker)."""
    from cartwh.night.run_marker import markers_folder

    running = []
    for path in markers_folder(warehouse).glob("*.json"):
        try:
            marker = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if marker.get("status") == "running" and _alive(marker.get("pid")):
            running.append(marker)
    if not running:
        return ""
    latest = max(running, key=lambda m: m["started_at"])
    return f" (run {latest['run_id'][:8]}, running since {latest['started_at'][:16].replace('T', ' ')} UTC)"


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, TypeError, ValueError):
        return False
    except PermissionError:  # another account's process: alive
        return True
    return True

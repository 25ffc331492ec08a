"""One writer at a time: DuckDB allows a single writing process, and two runs interleaving
their writes would publish a mix. Every writer (a Dagster run, `cartwh ingest`, `cartwh
rebuild`) holds an exclusive lock on `<warehouse>.lock` for its whole duration; the next one
waits. The operating system releases the lock when a process dies, so a killed run never
leaves the warehouse locked."""

from __future__ import annotations

import fcntl
import logging
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
                    raise WarehouseBusy(f"{warehouse} is still being written by another run") from None
                if not waited:
                    log.warning("another run is writing %s: waiting for it to finish", warehouse)
                    waited = True
                time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

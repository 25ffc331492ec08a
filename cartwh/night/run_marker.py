"""A run that cannot record itself is recorded by the next one.

At its start, under the writer lock, a run writes a marker, `<warehouse>.runs/<run id>.json`
(its id, when it started, status "running"). When it ends it records itself in ops.run_history
and removes the marker. A marker outlives its run only when the run could not record itself:

- it was killed (SIGKILL, out of memory, power cut): the marker still says "running";
- recording failed (a full disk, a damaged warehouse): the run rewrote its marker with the
  status and the reason it would have recorded.

The next run, holding the same lock (so the marker's writer is certainly gone), records every
marker it finds before it starts — "interrupted" for one still "running" — and removes them.
Markers are small files written whole (temporary file, fsync, rename), so a crash leaves the
old marker or the new one, never a torn one. Each is padded to a fixed size at its start: on a
disk too full for a new file the run rewrites its marker in place, so a run that failed on a full
disk is recorded by the next as failed, with its reason, not as killed. If even that cannot be
done (a file system that writes every change to new blocks), the run is recorded as interrupted:
never as published.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cartwh.night.failures import describe
from cartwh.night.run_history import RunSummary, record_run
from cartwh.warehouse.connection import connect

log = logging.getLogger(__name__)

KILLED = "killed before it could record itself (SIGKILL, out of memory or power loss); recorded by the next run"
# A marker's size on disk: a run's record (its sentence, its steps' seconds) fits, so a run that
# ends on a full disk can still rewrite its marker in the space it took at the start.
RESERVED = 8192
# After an interruption dbt may still be closing the warehouse file: wait this long for it.
LOCK_RETRY_SECONDS = 30.0


def markers_folder(warehouse: Path) -> Path:
    return Path(f"{warehouse}.runs")


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def begin(warehouse: Path, run_id: str, started_at: datetime | None = None) -> None:
    _write(
        warehouse,
        {"run_id": run_id, "started_at": (started_at or now()).isoformat(), "status": "running", "pid": os.getpid()},
    )


def defer(warehouse: Path, summary: RunSummary) -> bool:
    """Keep `summary` for the next run to record; False if even that failed."""
    try:
        _write(
            warehouse,
            {
                "run_id": summary.run_id,
                "started_at": summary.started_at.isoformat(),
                "finished_at": summary.finished_at.isoformat(),
                "status": summary.status,
                "message": summary.message,
                "checks_passed": summary.checks_passed,
                "checks_failed": summary.checks_failed,
                "blocking_checks_failed": summary.blocking_checks_failed,
                "step_seconds": summary.step_seconds,
            },
        )
        return True
    except OSError as error:
        log.error(
            "could not keep the summary of run %s for the next run (%s): it will be recorded as interrupted",
            summary.run_id,
            error,
        )
        return False


def finish(warehouse: Path, run_id: str) -> None:
    _marker(warehouse, run_id).unlink(missing_ok=True)


def unfinished(warehouse: Path) -> list[RunSummary]:
    """The runs whose markers are still there, oldest first, as they are to be recorded."""
    folder = markers_folder(warehouse)
    summaries = []
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        try:
            marker = json.loads(path.read_text())
        except ValueError:
            log.warning("ignoring an unreadable run marker %s", path)
            continue
        summaries.append(_summary(marker, datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)))
    return sorted(summaries, key=lambda s: s.started_at)


def _summary(marker: dict, last_seen: datetime) -> RunSummary:
    started = datetime.fromisoformat(marker["started_at"])
    if marker["status"] == "running":  # its process is gone: it never got to record itself
        return RunSummary(marker["run_id"], started, max(last_seen, started), "interrupted", message=KILLED)
    return RunSummary(
        marker["run_id"],
        started,
        datetime.fromisoformat(marker["finished_at"]),
        marker["status"],
        marker.get("checks_passed", 0),
        marker.get("checks_failed", 0),
        marker.get("blocking_checks_failed", 0),
        marker.get("step_seconds", {}),
        marker.get("message"),
    )


def _marker(warehouse: Path, run_id: str) -> Path:
    return markers_folder(warehouse) / f"{run_id}.json"


def _write(warehouse: Path, marker: dict) -> None:
    """The marker whole, padded to RESERVED bytes; on a disk too full for a new file, the run's
    marker is rewritten in place, in the space its first version reserved."""
    path = _marker(warehouse, marker["run_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    content = json.dumps(marker).encode()
    content += b" " * (RESERVED - len(content))  # JSON allows the blanks; the next version fits in them
    temporary = path.with_suffix(".tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.errno not in (errno.ENOSPC, errno.EDQUOT) or not path.exists() or len(content) > RESERVED:
            raise
        with open(path, "r+b") as handle:  # its blocks are there: overwriting them needs no new one
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        return
    os.replace(temporary, path)
    descriptor = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def record_unfinished(
    warehouse: Path, but: str | None = None, message: str = KILLED, status: str = "interrupted"
) -> int:
    """Record every run whose marker is still there (except run `but`, the caller's own), as
    `status` with `message` when it was still running; how many were recorded. Call it holding
    the writer lock."""
    pending = [s for s in unfinished(warehouse) if s.run_id != but]
    for summary in pending:
        if summary.message == KILLED:
            summary.message, summary.status = message, status
        record_or_defer(warehouse, summary)
    return len(pending)


def record_or_defer(warehouse: Path, summary: RunSummary) -> bool:
    """Record `summary` in the warehouse and remove its marker; if the warehouse cannot take it
    (full disk, damaged file), keep it in the marker for the next run. True if recorded."""
    try:
        con = _connect_when_free(warehouse)
        try:
            record_run(con, summary)
        finally:
            con.close()
    except (duckdb.Error, OSError) as error:
        log.error(
            "run %s could not be recorded in %s (%s); the next run will record it",
            summary.run_id,
            warehouse,
            describe(str(error)),
        )
        defer(warehouse, summary)
        return False
    finish(warehouse, summary.run_id)
    return True


def _connect_when_free(warehouse: Path) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + LOCK_RETRY_SECONDS
    while True:
        try:
            return connect(warehouse)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.5)

"""Which night the published copy shows, and why there is none (yet) or a newer night is missing.

The published copy carries `ops.run_history` up to the night it was published by. A failed or
blocked night is recorded only in the working warehouse, which analysts cannot read (mode 0600)
and which a running night holds locked; so such a night also leaves a small marker beside the
published copy, readable like it: `<published>.last-unpublished-run.json`, holding the run's id,
times, status and check counts (nothing about a patient). Readers here take the marker first and
the working warehouse's history only when there is no marker (runs from before the marker
existed), opened read-only and given up on at once if it is locked or unreadable.

Plain duckdb and json only: `cartwh sql` imports this and must stay away from the pseudonym code.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import duckdb

from cartwh.warehouse import permissions
from cartwh.warehouse.schema import has_table

_COLUMNS = ("run_id", "started_at", "finished_at", "status", "blocking_checks_failed", "checks_failed")


def marker_path(published: Path) -> Path:
    published = Path(published)
    return published.with_name(published.name + ".last-unpublished-run.json")


def leave_unpublished_marker(published: Path, summary) -> None:
    """Called when a run ends without publishing (a `cartwh.night.run_history.RunSummary`): written to a
    temporary name and renamed, so a reader sees the previous marker or this one, never half of one."""
    marker = marker_path(published)
    if not marker.parent.exists():  # a first night that failed: the folder analysts will find the copy in
        marker.parent.mkdir(parents=True)
        permissions.share_folder(marker.parent)
    night = {
        "run_id": summary.run_id,
        "started_at": summary.started_at.isoformat(sep=" ", timespec="seconds"),
        "finished_at": summary.finished_at.isoformat(sep=" ", timespec="seconds"),
        "status": summary.status,
        "blocking_checks_failed": summary.blocking_checks_failed,
        "checks_failed": summary.checks_failed,
    }
    temporary = marker.with_name(marker.name + ".next")
    temporary.write_text(json.dumps(night) + "\n", encoding="utf-8")
    permissions.share_file(temporary)
    os.replace(temporary, marker)


def _read_marker(published: Path) -> dict | None:
    try:
        night = json.loads(marker_path(published).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return night if isinstance(night, dict) and set(_COLUMNS) <= set(night) else None


def _history(con: duckdb.DuckDBPyConnection, where: str = "TRUE") -> list[dict]:
    """Rows of ops.run_history, newest first; none if the table is not there."""
    if not has_table(con, "ops.run_history"):
        return []
    rows = con.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM ops.run_history WHERE {where} ORDER BY started_at DESC"
    ).fetchall()
    # times as text to the second, as the marker holds them
    return [
        {k: str(v)[:19] if k.endswith("_at") and v is not None else v for k, v in zip(_COLUMNS, row, strict=True)}
        for row in rows
    ]


def published_night(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The night that published the copy `con` reads (its own run is the newest published one in it)."""
    nights = _history(con, "status = 'published'")
    return nights[0] if nights else None


def _working_history(working: Path) -> list[dict] | None:
    """The working warehouse's run history, or None when it cannot be read right now."""
    if not Path(working).exists():
        return None
    try:
        con = duckdb.connect(str(working), read_only=True)
    except (duckdb.Error, OSError):  # locked by a running night, or not ours to read
        return None
    try:
        return _history(con)
    except duckdb.Error:
        return None
    finally:
        con.close()


def latest_unpublished(published: Path, working: Path) -> dict | None:
    """The newest night that ended without publishing, if we can know it."""
    marker = _read_marker(published)
    if marker is not None:
        return marker
    history = _working_history(working)
    if history and history[0]["status"] != "published":
        return history[0]
    return None


def run_in_progress(working: Path) -> bool:
    """Whether a writer (a night, `cartwh ingest`, `cartwh rebuild`) holds the warehouse's lock now."""
    try:
        handle = open(f"{working}.lock", "rb")
    except OSError:  # no lock file: nothing ever wrote; not readable: we cannot tell
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def describe(night: dict) -> str:
    """'run 1a2b3c4d (2026-12-01 02:00:03 to 02:07:41 UTC, blocked by 2 blocking checks)'."""
    finished = night["finished_at"] or ""
    if finished[:10] == (night["started_at"] or "")[:10]:
        finished = finished[11:]
    status = night["status"]
    if status == "blocked":
        count = night["blocking_checks_failed"]
        status = f"blocked by {count} failing blocking check{'s' if count != 1 else ''}"
    return f"run {str(night['run_id'])[:8]} ({night['started_at']} to {finished} UTC, {status})"


def missing_copy_message(published: Path, working: Path) -> str:
    """Why there is no published copy at `published`, in one or two sentences."""
    head = f"No published warehouse at {published}"
    night = latest_unpublished(published, working)
    if night is not None and night["status"] == "blocked":
        return (
            f"{head}: the last run, {describe(night)}, was stopped by its data-quality checks, so nothing was "
            f"published. Fix what the failing checks name (`make run` prints them; the data-quality report lists "
            f"them) and the next run publishes."
        )
    if night is not None:
        return (
            f"{head}: the last run, {describe(night)}, ended before publishing. Its error is in the run's "
            f"output (or the Dagster UI); the next successful run publishes."
        )
    if run_in_progress(working):
        return f"{head} yet: a run is writing the warehouse now; the copy appears when it has finished."
    return f"{head} yet: no run has finished; run `make run` first (or wait for the nightly run)."

"""A full disk's words (cartwh/night/failures.py): what SQLite says of it, and a run that fails on a
full disk keeping its reason in its marker. On a real full volume: tests/e2e/test_full_disk.py."""

from __future__ import annotations

import errno
import json

import pytest

from cartwh.night import run_marker
from cartwh.night.failures import describe
from cartwh.night.run_history import RunSummary


def test_a_run_that_fails_on_a_full_disk_keeps_its_reason_in_its_marker(tmp_path, monkeypatch):
    """No room for a new file: the marker is rewritten in the space it reserved at the run's start,
    so the next run records the run as failed with its reason, not as killed."""
    warehouse = tmp_path / "warehouse.duckdb"
    run_marker.begin(warehouse, "run-1")
    written = open

    def full(path, mode="r", *args, **kwargs):
        if str(path).endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return written(path, mode, *args, **kwargs)

    monkeypatch.setattr(run_marker, "open", full, raising=False)
    why = describe("OSError: [Errno 28] No space left on device", where=tmp_path)
    (pending,) = run_marker.unfinished(warehouse)
    failed = RunSummary("run-1", pending.started_at, pending.finished_at, "failed", message=why)
    assert run_marker.defer(warehouse, failed)
    monkeypatch.undo()
    (kept,) = run_marker.unfinished(warehouse)
    assert (kept.status, kept.message) == ("failed", why) and why.startswith("the disk is full")
    assert len(json.dumps(kept.message)) < run_marker.RESERVED


@pytest.mark.parametrize(
    "text, full",
    [
        ("sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database or disk is full", True),
        ("sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) disk I/O error", False),  # a volume with room
    ],
)
def test_sqlites_words_for_a_full_disk(text, full, tmp_path):
    assert describe(text, where=tmp_path).startswith("the disk is full") == full

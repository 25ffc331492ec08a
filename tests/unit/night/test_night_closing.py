"""How every night ends (cartwh.night.closing): its record, then the data-quality pages, which
never fail the night. The demo's run closing: tests/e2e/test_night_closing.py."""

from __future__ import annotations

from contextlib import contextmanager

import dagster as dg
import duckdb

from cartwh.night.closing import QualityPages, close_night
from cartwh.warehouse.connection import connect


def _pages(root) -> QualityPages:
    return QualityPages(root / "reports", root / "gx", root / "restricted", root / "archive")


def test_a_night_whose_pages_cannot_be_written_still_closes_and_says_why(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    connect(warehouse).close()

    @contextmanager
    def broken():
        raise duckdb.IOException("IO Error: No space left on device")
        yield

    with dg.DagsterInstance.ephemeral() as instance:  # a run with no failure: nothing to record
        closed = close_night(instance, "run-1", warehouse, tmp_path / "published.duckdb", _pages(tmp_path), broken)
    assert closed.recorded is None and closed.pages is None
    assert closed.describe() == (
        "night closed: recorded by its own publishing step; data-quality pages not written "
        "(IO Error: No space left on device)"
    )
    assert not (tmp_path / "reports").exists()

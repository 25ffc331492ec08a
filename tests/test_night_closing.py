"""How every night ends (cartwh.night.closing): its record, then the data-quality pages, which
never fail the night; the demo's run says in its log that it closed."""

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


def test_the_demo_night_closed_after_publishing_and_wrote_both_pages(demo_run):
    root, run = demo_run
    with dg.DagsterInstance.from_config(str(root / "dagster_home")) as instance:
        messages = [record.user_message for record in instance.all_logs(run.run_id)]
    closing = [m for m in messages if m.startswith("night closed:")]
    assert closing == [
        "night closed: recorded by its own publishing step; data-quality pages written: "
        "data_quality.html, data_manager.html"
    ]
    assert (root / "reports" / "data_quality.html").exists() and (root / "data_manager" / "data_manager.html").exists()

"""A failed or blocked run recorded in ops.run_history (its summary: cartwh/run_events.py)."""

from __future__ import annotations

import dagster as dg

from cartwh import settings
from cartwh.ingest.warehouse import connect
from cartwh.locking import writer_lock
from cartwh.run_events import summarize_run
from cartwh.run_history import record_run


def record_failure(instance: dg.DagsterInstance, run_id: str) -> None:
    """A failed or blocked run still belongs in ops.run_history (of the working warehouse; the
    published copy carries it from the next successful run on)."""
    summary = summarize_run(instance, run_id, status="failed")
    with writer_lock(settings.warehouse_path()):
        con = connect(settings.warehouse_path())
        try:
            record_run(con, summary)
        finally:
            con.close()

"""How every night ends, whatever its outcome: `close_night`, what the warehouse resource runs as
its run tears down (assets/resources.py), still under the writer lock the run holds.

Two things, in this order: the run's record (cartwh.night.run_events.close_run: a night that did
not publish is recorded in ops.run_history and leaves its marker beside the published copy; one
that published was recorded by the publishing step), then the two data-quality pages
(cartwh.quality: the analysts' and the data manager's), written once, after the record, so their
"Last nights" shows this night, blocked or not. A run whose process died before its teardown is
recorded by the failure sensor instead (orchestration/run_summary.record_failure); its pages are
written by the next night.

The pages are not a Dagster asset on purpose: an asset does not run when a step upstream failed,
and a blocked or failed night is the one whose pages matter most."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from cartwh.night.run_events import close_run
from cartwh.night.run_history import RunSummary
from cartwh.quality.quality_report import write_quality_reports

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QualityPages:
    """Where the pages go: the analysts' `reports` folder, Great Expectations' project (`gx_root`,
    its Data Docs linked from the analysts' page), the data manager's `restricted` folder, and the
    archive whose record map names the records there."""

    reports: Path
    gx_root: Path
    restricted: Path
    archive: Path


@dataclass(frozen=True)
class ClosedNight:
    """What closing did: the run's record (None: it published, or a subset succeeded), the pages
    written (None, with `pages_error`, when they could not be)."""

    recorded: RunSummary | None
    pages: tuple[Path, Path] | None
    pages_error: str | None = None

    def describe(self) -> str:
        record = f"recorded as {self.recorded.status}" if self.recorded else "recorded by its own publishing step"
        if self.pages is None:
            return f"night closed: {record}; data-quality pages not written ({self.pages_error})"
        return f"night closed: {record}; data-quality pages written: {', '.join(p.name for p in self.pages)}"


def close_night(
    instance: dg.DagsterInstance,
    run_id: str,
    warehouse: Path,
    published: Path,
    pages: QualityPages,
    connection: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]],
) -> ClosedNight:
    """End the run `run_id` of `warehouse` (under the writer lock its caller holds): record it,
    then write its data-quality pages through `connection()` (the run's own, confined connection).
    The pages never fail the night: the run's own outcome matters more than its report."""
    recorded = close_run(instance, run_id, warehouse, published)
    try:
        with connection() as con:
            written = write_quality_reports(con, pages.reports, pages.gx_root, pages.restricted, pages.archive)
    except Exception as error:
        log.warning("could not write the data-quality reports: %s", error)
        return ClosedNight(recorded, None, str(error))
    return ClosedNight(recorded, written)

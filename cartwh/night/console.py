"""What `cartwh run` shows while it runs: one line per stage with its duration, a progress bar on
the dbt build, each warning once. Everything else (dbt's per-node lines, Dagster's messages,
tracebacks) goes to the run's log file only.

Plain logic over Dagster's event records, so a test can feed it a recorded run. A stage is a set
of steps (`stages`, step key -> stage name); its line is written when its last step ends (steps
of two stages may interleave: raw batch checks run beside ingestion and after dbt), and stages
that never ran (a failed step stops what lies downstream) are named as not run at the end. A stage
whose every step said it had nothing to do (materialization metadata `skipped`: the REDCap pull
when no site is configured) gets that reason instead of a duration and a step count.
The bar is drawn only on a terminal: a file or a pipe gets plain lines, no carriage returns.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import TextIO

import dagster as dg

from cartwh.night.failures import describe

# Stages in the order a run goes through them (the console's lines keep this order).
STAGES = ("pull", "ingest", "dbt build", "checks", "statistics", "reports", "publish")
BAR_STAGE = "dbt build"
# The Dagster events that stand for one step of the dbt build done: a model or seed built, and the
# model's or seed's tests ended (its one `dbt_tests` check: cartwh/dbt/test_summaries.py).
_NODE_DONE = {dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_CHECK_EVALUATION}
_ENDED = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.STEP_SKIPPED}
# Warnings that stay in the log: Dagster's one per step skipped after a failure (the stage lines
# say "not run", the failure says why).
_NOISE = ("Dependencies for step ",)
WIDTH = 12  # the stage names' column


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 90 else f"{int(value // 60)} min {int(value % 60):02d} s"


def _interrupted(event: dg.DagsterEvent) -> bool:
    """A step that failed because the run was interrupted (Ctrl-C, SIGTERM), not because of an error."""
    error = getattr(event.event_specific_data, "error", None)
    while error is not None:
        if describe(error.message or "", kind=error.cls_name or "").startswith("interrupted"):
            return True
        error = error.cause or error.context
    return False


def _skipped(event: dg.DagsterEvent) -> str | None:
    """The reason a step gave for doing nothing (its materialization's `skipped` metadata), or None."""
    entry = event.step_materialization_data.materialization.metadata.get("skipped")
    return str(entry.value) if entry is not None else None


class StageConsole:
    """Receives every event record of one run (`__call__`) and writes the stage lines to `out`."""

    def __init__(self, stages: Mapping[str, str], out: TextIO, dbt_nodes: int = 0, bar: bool | None = None):
        self.stages, self.out, self.dbt_nodes = dict(stages), out, dbt_nodes
        self.bar_wanted = out.isatty() if bar is None else bar
        self.pending = Counter(self.stages.values())  # steps of each stage not yet ended
        self.started: dict[str, float] = {}
        self.seconds: Counter = Counter()
        self.failed: set[str] = set()
        self.interrupted: set[str] = set()  # failed because the run was stopped: said so, not FAILED
        self.done: list[str] = []  # stages whose line is written
        self.warned: set[str] = set()
        self.skipped: dict[str, list[str]] = {}  # stage -> the reasons its steps gave for doing nothing
        self.nodes = 0
        self.broken = False
        self._bar = None

    # --- what the run reports -------------------------------------------------------------
    def __call__(self, record: dg.EventLogEntry) -> None:
        """Called by Dagster inside the run: an error here must not fail a step, so the console
        goes quiet instead (the log has the error; the summary at the end is printed anyway)."""
        if self.broken:
            return
        try:
            self._event(record)
        except Exception:  # any error of the display: keep the run going
            logging.getLogger(__name__).exception("the console's stage lines stopped")
            self.broken = True
            self.close()

    def _event(self, record: dg.EventLogEntry) -> None:
        event = record.dagster_event
        if event is None:
            if record.level >= logging.WARNING:
                self.warn(record.user_message, step=record.step_key)
            return
        if not event.step_key:
            return
        if event.step_key not in self.stages:  # a step no stage names (a new asset): a line of its own
            self.stages[event.step_key] = event.step_key
            self.pending[event.step_key] += 1
        stage = self.stages[event.step_key]
        if event.event_type == dg.DagsterEventType.STEP_START:
            self.started[event.step_key] = record.timestamp
            if stage == BAR_STAGE:
                self._open_bar()
        elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION and _skipped(event):
            self.skipped.setdefault(stage, []).append(_skipped(event))
        elif event.event_type in _NODE_DONE and stage == BAR_STAGE:
            self.nodes += 1
            if self._bar is not None:
                self._bar.update(1)
        elif event.event_type in _ENDED:
            if event.step_key in self.started:
                self.seconds[stage] += record.timestamp - self.started.pop(event.step_key)
            if event.event_type == dg.DagsterEventType.STEP_FAILURE:
                self.failed.add(stage)
                if _interrupted(event):
                    self.interrupted.add(stage)
            self.pending[stage] -= 1
            if self.pending[stage] == 0:
                self._stage_line(stage)

    def warn(self, message: str, step: str | None = None) -> None:
        """A warning, written the first time it is seen (dbt's noise only to the log)."""
        text = " ".join(str(message).split())
        if not text or text in self.warned or any(text.startswith(n) for n in _NOISE):
            return
        self.warned.add(text)
        self._write(f"  warning: {text if len(text) <= 300 else text[:297] + '...'}")

    def finish(self) -> None:
        """At the run's end (whatever it was): the stages still open or never reached."""
        for stage in STAGES:
            if stage in self.pending and stage not in self.done:
                self._stage_line(stage, ended=False)

    # --- writing --------------------------------------------------------------------------
    def _stage_line(self, stage: str, ended: bool = True) -> None:
        self._close_bar()
        self.done.append(stage)
        steps = sum(1 for s in self.stages.values() if s == stage)
        if not ended and not self.seconds[stage]:
            self._write(f"  {stage:<{WIDTH}} not run")
            return
        what = (
            f"{self.nodes}/{self.dbt_nodes} builds and test results"
            if stage == BAR_STAGE and self.dbt_nodes
            else f"{steps} step{'s' * (steps != 1)}"
        )
        reasons = self.skipped.get(stage, [])
        if ended and stage not in self.failed and len(reasons) == steps:
            self._write(f"  {stage:<{WIDTH}} {'; '.join(dict.fromkeys(reasons))}")
            return
        if stage in self.interrupted:
            outcome = "interrupted"
        elif stage in self.failed:
            outcome = "FAILED"
        else:
            outcome = "done" if ended else "stopped"
        self._write(f"  {stage:<{WIDTH}} {outcome:<8}{_seconds(self.seconds[stage]):>12}   {what}")

    def _open_bar(self) -> None:
        if self._bar is None and self.bar_wanted and self.dbt_nodes:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.dbt_nodes,
                file=self.out,
                leave=False,
                mininterval=0.5,
                bar_format=f"  {BAR_STAGE:<{WIDTH}} {{percentage:3.0f}} % |{{bar:30}}| "
                "{n_fmt}/{total_fmt} builds and test results  {elapsed}",
            )

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()  # leave=False: the bar's line is cleared, the stage line takes it
            self._bar = None

    def _write(self, line: str) -> None:
        if self._bar is not None:
            self._bar.write(line, file=self.out)
        else:
            self.out.write(line + "\n")
            self.out.flush()

    def close(self) -> None:
        self._close_bar()


class ConsoleWarnings(logging.Handler):
    """Python warnings of cartwh's own code (the demo key, a figure not drawn) on the console,
    each once; everything else of Python's logging stays in the log file."""

    def __init__(self, console: StageConsole):
        super().__init__(level=logging.WARNING)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("cartwh"):
            self.console.warn(record.getMessage())

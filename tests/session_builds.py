"""What the suite builds once per session, however many xdist workers run it: a cohort's whole main
job, a generated registry, an ingested warehouse. The first worker to ask builds under a file lock
in the folder every worker of the session shares; the others wait for it and read the same folder
(pytest-xdist's file-lock recipe). A build that failed is not repeated: every worker that asks for
it fails with the first one's error.

Each build is counted where it is made (`SessionBuilds.made`); tests/conftest.py gathers every
worker's count, prints one line per build at the end of the session and fails the session if a
name was built twice. What a build returns is pickled beside its folder, so it must be plain data
(`StoredRun` stands for a Dagster run result: it reads the run back from its instance)."""

from __future__ import annotations

import pickle
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from filelock import FileLock


class BuildFailed(RuntimeError):
    """A session build that failed in the worker that made it."""


class SessionBuilds:
    """Folders under `root` (shared by every worker of the session), each made once by its `make`."""

    def __init__(self, root: Path, worker: str):
        self.root, self.worker = root, worker
        self.made: list[tuple[str, str, float]] = []  # (name, worker, seconds): the builds this process made
        root.mkdir(parents=True, exist_ok=True)

    def build(self, name: str, make: Callable[[Path], Any]) -> tuple[Path, Any]:
        """The folder `name` and what `make(folder)` returned, made once per session."""
        folder, record = self.root / name, self.root / f"{name}.pickle"
        with FileLock(self.root / f"{name}.lock"):
            if not record.exists():
                shutil.rmtree(folder, ignore_errors=True)  # what an interrupted build left
                folder.mkdir()
                started = time.monotonic()
                try:
                    value = make(folder)
                except BaseException as error:
                    record.write_bytes(pickle.dumps(BuildFailed(f"{name} (built by {self.worker}): {error!r}")))
                    raise
                finally:
                    self.made.append((name, self.worker, round(time.monotonic() - started, 1)))
                record.write_bytes(pickle.dumps(value))
            value = pickle.loads(record.read_bytes())
        if isinstance(value, BuildFailed):
            raise value
        return folder, value


def repeated(builds: list[tuple[str, str, float]]) -> dict[str, int]:
    """The names built more than once, and how often."""
    counts = Counter(name for name, _, _ in builds)
    return {name: count for name, count in counts.items() if count > 1}


@dataclass(frozen=True)
class StoredRun:
    """A finished run of the main job as its Dagster instance keeps it (<data>/dagster_home): what
    the tests read of `ExecuteInProcessResult`, the same in every worker. The event filters are
    Dagster's own (dagster._core.execution.execution_result.ExecutionResult)."""

    home: Path
    run_id: str

    def _read(self, read):
        with dg.DagsterInstance.from_config(str(self.home)) as instance:
            return read(instance)

    @property
    def dagster_run(self) -> dg.DagsterRun:
        return self._read(lambda instance: instance.get_run_by_id(self.run_id))

    @property
    def success(self) -> bool:
        return self.dagster_run.is_success

    @property
    def all_events(self) -> list[dg.DagsterEvent]:
        records = self._read(lambda instance: instance.all_logs(self.run_id))
        return [record.dagster_event for record in records if record.dagster_event is not None]

    def get_asset_materialization_events(self) -> list[dg.DagsterEvent]:
        return [event for event in self.all_events if event.is_step_materialization]

    def get_asset_check_evaluations(self) -> list[dg.AssetCheckEvaluation]:
        return [
            event.event_specific_data
            for event in self.all_events
            if event.event_type_value == dg.DagsterEventType.ASSET_CHECK_EVALUATION.value
        ]

"""`cartwh run`: the main job on what has landed, in a child process an interruption always ends
in seconds; the console gets the stage lines and one sentence per failure, the run's log the rest."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

from cartwh import settings

HELP = "run the main job on what has landed"
DESCRIPTION = "Materialize every asset of the main job in-process, on what has landed."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--demo",
        action="store_true",
        help="first write the synthetic demo cohort, if this data folder has never held anything and no "
        "real pseudonym key is set (what `make run` does)",
    )
    parser.add_argument("--in-this-process", action="store_true", help=argparse.SUPPRESS)  # the child of `cartwh run`
    parser.add_argument("--log-file", help=argparse.SUPPRESS)
    parser.add_argument(
        "--force", action="store_true", help="run even when nothing is new since the last published night"
    )
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild dbt's incremental models from the whole raw layer (implies --force)",
    )


# How long an interrupted run has to stop by itself (dbt told to stop, the run recorded) before
# it is killed and recorded by the command that started it.
STOP_GRACE_SECONDS = 10.0
INTERRUPTED = (
    "Interrupted: the run stopped; the published copy is unchanged, the writer lock is free, and a run that "
    "had started is recorded as interrupted in ops.run_history."
)


def handle(args) -> int:
    """The run happens in a child process, so that an interruption (Ctrl-C, SIGTERM) always ends
    it in seconds: the child is asked to stop (Dagster interrupts the step, dbt is told), and if
    it has not stopped after STOP_GRACE_SECONDS (an interrupt can be swallowed, e.g. while
    dagster-dbt sets up dbt's adapter) it is killed with its children and this process records
    it as interrupted. Either way the writer lock is free when this returns."""
    if getattr(args, "in_this_process", False):
        return _run_here(Path(args.log_file), force=args.force, full_refresh=args.full_refresh)
    if getattr(args, "demo", False):
        _write_demo()
    elif _nothing_to_run():
        return 1
    log_file = settings.data_dir() / "logs" / f"run-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
    requested = []
    signal.signal(signal.SIGINT, lambda signum, _: requested.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, _: requested.append(signum))
    child = subprocess.Popen(
        [sys.executable, "-m", "cartwh.cli", "run", "--in-this-process", "--log-file", str(log_file)]
        + ["--force"] * args.force
        + ["--full-refresh"] * args.full_refresh,
        preexec_fn=_die_with_parent,
    )
    deadline = None
    while child.poll() is None:
        if requested and deadline is None:
            child.send_signal(signal.SIGINT)  # for a SIGTERM; after a Ctrl-C the child has its own
            deadline = time.monotonic() + STOP_GRACE_SECONDS
        if deadline is not None and time.monotonic() > deadline:
            _kill_tree(child)
        time.sleep(0.1)
    if not requested or child.returncode in (0, 1):  # it ended by itself (an interrupt just too late)
        return child.returncode
    from cartwh.night import run_marker
    from cartwh.night.failures import describe
    from cartwh.night.locking import writer_lock

    with writer_lock(settings.warehouse_path(), wait_seconds=60):  # free now: its holder is gone
        run_marker.record_unfinished(settings.warehouse_path(), message=describe("KeyboardInterrupt"))
    print(f"{INTERRUPTED} Log: {log_file}", file=sys.stderr)
    return 130


def _die_with_parent() -> None:
    """In the child: die if `cartwh run` itself is killed, so no run outlives its command."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


def _kill_tree(child: subprocess.Popen) -> None:
    from cartwh.night.processes import child_processes

    for pid in [*child_processes(child.pid), child.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    child.wait()


@contextmanager
def _output_to(log_file: Path):
    """Send everything written to stdout and stderr (dbt's per-node lines, Dagster's log,
    tracebacks) to the run's log file, and yield a stream on the console (what stdout was): the
    console gets the stage lines and one sentence per failure, the log the whole story."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    console = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
    with open(log_file, "a", buffering=1, encoding="utf-8", errors="replace") as handle:
        for fd in saved:
            os.dup2(handle.fileno(), fd)  # dbt and anything else that writes to the descriptors
        try:
            with redirect_stdout(handle), redirect_stderr(handle):  # Python's writers
                yield console
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            console.close()


def _fresh() -> bool:
    from cartwh.synthetic import never_held_anything

    paths = settings.landing_dir(), settings.warehouse_path(), settings.published_path(), settings.archive_dir()
    return never_held_anything(*paths)


def _write_demo() -> None:
    """`cartwh run --demo`: the synthetic demo cohort, only into a data folder that never held
    anything and never under a real pseudonym key (cartwh.synthetic); else the run goes on with
    what has landed."""
    from cartwh.pull.redcap import configured_sites
    from cartwh.synthetic import real_key_set

    if not _fresh() or configured_sites():  # a programme's data folder, or one its REDCap pull fills
        return
    if real_key_set():
        print(
            "A real pseudonym key is set: the synthetic demo cohort is never written under it. "
            f"Nothing has landed in {settings.landing_dir()} yet.",
            file=sys.stderr,
        )
        return
    from cartwh.generate import generate_landing

    summary = generate_landing(settings.landing_dir(), progress=sys.stdout.isatty())
    print(
        f"A fresh data folder: wrote the SYNTHETIC demo cohort ({summary.patients} patients, {summary.files} "
        f"files) to {settings.landing_dir()}; everything built from it says so."
    )


def _nothing_to_run() -> bool:
    """A data folder that never held anything and has nothing to pull: say where exports go."""
    from cartwh.pull.redcap import configured_sites

    if not _fresh() or configured_sites():
        return False
    print(
        f"Nothing has landed in {settings.landing_dir()} and this data folder has never held anything: "
        "land the exports there (redcap/, cytometry/manifests/, cytometry/statistics/: docs/data-contract.md), "
        "or write the synthetic demo cohort into a fresh data folder with `cartwh run --demo` (what `make run` does).",
        file=sys.stderr,
    )
    return True


def _run_here(log_file: Path, force: bool = False, full_refresh: bool = False) -> int:
    from cartwh.night import nothing_new
    from cartwh.night.failures import describe, is_disk_full
    from cartwh.pull.redcap import configured_sites

    landing = settings.landing_dir()
    inputs = nothing_new.fingerprint(landing)
    unchanged = nothing_new.nothing_new(
        landing, inputs, settings.warehouse_path(), settings.published_path(), bool(configured_sites())
    )
    if unchanged and not (force or full_refresh):
        print(unchanged)
        return 0
    try:
        with _output_to(log_file) as console:
            from cartwh.night.console import ConsoleWarnings, StageConsole
            from orchestration.run import dbt_node_count, failure_of, run_main_job, stages

            stage_console = StageConsole(stages(), console, dbt_nodes=dbt_node_count())
            warnings = ConsoleWarnings(stage_console)
            logging.getLogger().addHandler(warnings)
            logging.getLogger("dagster").propagate = False  # Dagster's console logger writes it to the log once
            try:
                result = run_main_job(on_event=stage_console, inputs=inputs, full_refresh=full_refresh)
            except Exception as error:  # noqa: BLE001 (Dagster's own storage failed, e.g. on a full disk)
                logging.getLogger(__name__).exception("the run ended outside its steps")  # the traceback: the log
                result, broken = None, describe(f"{type(error).__name__}: {error}", where=settings.dagster_home())
            finally:
                logging.getLogger().removeHandler(warnings)
                stage_console.close()
            if result is not None:
                status, why = ("published", None) if result.success else failure_of(result)
                started = any(event.is_step_start for event in result.all_events)
                if (
                    status != "interrupted" and started
                ):  # an interruption is one line, from the command that started this run
                    stage_console.finish()
    except KeyboardInterrupt:  # outside a step: the command that started this run records it
        return 130
    except OSError as error:  # the run's own log could not be written
        if not is_disk_full(error):
            raise
        result, broken = None, describe(f"OSError: {error}", where=log_file)
    if result is None:
        return _broken_run(broken, log_file)
    from orchestration.run_summary import console_summary

    if status == "interrupted":
        return 130  # recorded by the run itself; the command that started it says so
    if not started:  # refused before any step
        print(f"The run did not start: {why}\nLog: {log_file}", file=sys.stderr)
        return 1
    print("\n".join(console_summary(result, log_file)))
    if not result.success:
        print(f"\nFAILED: {why}\nLog: {log_file}", file=sys.stderr)
        return 1
    return 0


def _broken_run(why: str, log_file: Path) -> int:
    """A run that could not go on outside its steps (Dagster's storage or the run's log failed: a
    full disk): `why` in one sentence, and the run recorded as failed with it, not later as killed
    (or kept in its marker for the next run to record)."""
    from cartwh.night import run_marker
    from cartwh.night.locking import writer_lock

    try:
        with writer_lock(settings.warehouse_path(), wait_seconds=60):
            run_marker.record_unfinished(settings.warehouse_path(), message=why, status="failed")
    except OSError:
        pass  # the next run records it from its marker
    print(f"The run stopped: {why}\nLog: {log_file}", file=sys.stderr)
    return 1

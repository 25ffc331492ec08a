"""The `cartwh` command line."""

from __future__ import annotations

import argparse
import csv
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


def _generate(args) -> int:
    from cartwh.generate import DEFAULT_SEED, generate_landing
    from cartwh.synthetic import files_in

    landing = Path(args.landing)
    if files_in(landing) and not args.force:
        print(f"{landing} already holds files; use --force to write into it anyway.", file=sys.stderr)
        return 1
    try:
        summary = generate_landing(
            landing,
            args.patients,
            args.sites,
            DEFAULT_SEED if args.seed is None else args.seed,
            args.faults,
            progress=True,
            exported_absolute_counts=args.absolute_counts,
            redcap_layout=args.redcap_layout,
            cytometry_dialect=args.cytometry_dialect,
            fcs_files=args.fcs_files,
            events_scale=args.events_scale,
        )
    except ValueError as error:  # an unknown layout or dialect, or faults asked of the longitudinal layout
        print(f"cartwh generate: {error}", file=sys.stderr)
        return 2
    kind = "paper cohort" if args.patients is None else "registry"
    print(
        f"Wrote {summary.files:,} export files for {summary.patients:,} patients ({kind}, "
        f"{summary.sites} site(s)) to {landing}: {summary.redcap_rows:,} REDCap rows, "
        f"{summary.samples:,} cytometry tubes."
    )
    if args.faults:
        log = Path(args.faults_log)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(summary.faults[0].as_dict()))
            writer.writeheader()
            writer.writerows(f.as_dict() for f in summary.faults)
        print(f"Injected {len(summary.faults)} faults; their list is in {log}.")
    return 0


def _ingest(args) -> int:
    import duckdb

    from cartwh.failures import WarehouseDamaged, check_working_warehouse, describe
    from cartwh.ingest.errors import IngestError
    from cartwh.ingest.load import SOURCES, ingest_source
    from cartwh.ingest.unrecognised import summary as unrecognised_summary
    from cartwh.ingest.warehouse import connect
    from cartwh.locking import writer_lock
    from cartwh.pseudonym import PseudonymKeyError
    from cartwh.synthetic import SyntheticBesideReal

    failed = False
    with writer_lock(settings.warehouse_path()):
        try:
            check_working_warehouse(settings.warehouse_path())
        except WarehouseDamaged as error:
            print(error, file=sys.stderr)
            return 1
        con = connect(settings.warehouse_path())
        for source in SOURCES:
            try:
                report = ingest_source(con, settings.landing_dir(), source, settings.archive_dir())
            except (PseudonymKeyError, SyntheticBesideReal) as error:  # nothing was ingested: no other source may be
                print(error, file=sys.stderr)
                con.close()
                return 1
            except IngestError as error:
                print(error, file=sys.stderr)
                failed = True
                continue
            except (OSError, duckdb.Error) as error:  # a full disk, a damaged file: one sentence
                print(f"{source}: {describe(str(error), where=settings.warehouse_path())}", file=sys.stderr)
                failed = True
                continue
            print(
                f"{source}: {len(report.files_loaded)} file(s) loaded, {len(report.files_skipped)} already ingested, "
                f"{sum(report.rows.values()):,} rows added, {report.rows_quarantined} quarantined; records read "
                f"{report.records_read:,} = {report.rows_landed:,} landed + {report.rows_quarantined:,} "
                f"quarantined + {report.records_skipped:,} skipped"
            )
            for name in report.files_still_being_written:
                print(f"{source}: {name} is still being written: left for the next run")
            if report.files_unrecognised:
                print(f"{source}: {unrecognised_summary(report.files_unrecognised)}")
        con.close()
    return 1 if failed else 0


def _pull(args) -> int:
    from cartwh.redcap_pull import PullError, connection_from_environment, describe, pull

    try:
        report = pull(
            connection_from_environment(site=args.site), args.site, settings.landing_dir(), settings.archive_dir()
        )
    except PullError as error:
        print(f"cartwh pull: {error}. Nothing was written.", file=sys.stderr)
        return 1
    print("\n".join(describe(report)))
    return 0


def _sql(args) -> int:
    import duckdb

    from cartwh.sql import (
        INTERRUPTED,
        OUT_OF_MEMORY,
        QueryStopped,
        ReadOnlyRefusal,
        cap_process_memory,
        interactive,
        run_sql,
    )

    try:
        cap_process_memory()
        if args.query is None:
            interactive(settings.published_path(), args.format)
        else:
            print(run_sql(settings.published_path(), args.query, args.format))
    except (ReadOnlyRefusal, QueryStopped, FileNotFoundError, ValueError, duckdb.Error) as error:
        print(error, file=sys.stderr)  # ValueError: a CARTWH_SQL_* setting that is not a number
        return 1
    except MemoryError:
        print(OUT_OF_MEMORY, file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while opening the copy or printing a result: one line, no traceback
        print(INTERRUPTED.split(";")[0], file=sys.stderr)
        return 130
    return 0


def _rebuild(args) -> int:
    from cartwh.archive_ledger import LedgerError, ledger_path, read_ledger
    from cartwh.locking import writer_lock
    from cartwh.rebuild import RebuildError, rebuild_raw, set_aside_path

    working, published, archive = settings.warehouse_path(), settings.published_path(), settings.archive_dir()
    try:
        with writer_lock(working):
            seeded = not read_ledger(archive)
            replayed = rebuild_raw(working, [working, published], archive)
    except (RebuildError, LedgerError) as error:
        print(error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "Interrupted: the rebuild stopped before replacing anything; the working warehouse is as it was.",
            file=sys.stderr,
        )
        return 130
    aside = set_aside_path(working)
    print(
        f"Replayed {replayed} archived file versions into a fresh raw layer (the archive's ledger, "
        f"{ledger_path(archive)}{', seeded once from the warehouse' if seeded else ''})"
        f"{f'; the previous warehouse is kept as {aside.name}' if aside.exists() else ''}. "
        "Rebuilding everything downstream..."
    )
    return _run(args)


# How long an interrupted run has to stop by itself (dbt told to stop, the run recorded) before
# it is killed and recorded by the command that started it.
STOP_GRACE_SECONDS = 10.0
INTERRUPTED = (
    "Interrupted: the run stopped; the published copy is unchanged, the writer lock is free, and a run that "
    "had started is recorded as interrupted in ops.run_history."
)


def _run(args) -> int:
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
    from cartwh import run_marker
    from cartwh.failures import describe
    from cartwh.locking import writer_lock

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
    from cartwh.processes import child_processes

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
    from cartwh.redcap_pull import configured_sites
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
    from cartwh.redcap_pull import configured_sites

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
    from cartwh import nothing_new
    from cartwh.failures import describe, is_disk_full
    from cartwh.redcap_pull import configured_sites

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
            from cartwh.console import ConsoleWarnings, StageConsole
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
    from cartwh import run_marker
    from cartwh.locking import writer_lock

    try:
        with writer_lock(settings.warehouse_path(), wait_seconds=60):
            run_marker.record_unfinished(settings.warehouse_path(), message=why, status="failed")
    except OSError:
        pass  # the next run records it from its marker
    print(f"The run stopped: {why}\nLog: {log_file}", file=sys.stderr)
    return 1


def _status(args) -> int:
    from cartwh.status import NothingPublished, published_summary

    try:
        print(published_summary(settings.published_path(), settings.warehouse_path()))
    except NothingPublished as reason:
        print(reason, file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cartwh", description="CAR-T monitoring data warehouse.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    generate = commands.add_parser(
        "generate",
        help="write a synthetic landing folder (paper cohort or registry)",
        description="Write synthetic REDCap and cytometry exports in the contract's formats.",
    )
    generate.add_argument(
        "--landing", default=str(settings.landing_dir()), help="folder to write (default: %(default)s)"
    )
    generate.add_argument("--patients", type=int, help="registry size; omit for the paper's 24-patient cohort")
    generate.add_argument("--sites", type=int, default=1, help="centres of the registry (default: %(default)s)")
    # No default imported here: `cartwh sql` must start without the generator (or anything near the key)
    generate.add_argument("--seed", type=int, help="random seed (default: the generator's fixed seed)")
    generate.add_argument("--faults", action="store_true", help="inject realistic export faults")
    generate.add_argument(
        "--faults-log",
        default=str(settings.data_dir() / "faults_injected.csv"),
        help="where to list the injected faults (default: %(default)s)",
    )
    generate.add_argument("--force", action="store_true", help="write even if the folder holds exports")
    generate.add_argument(
        "--absolute-counts",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write the lab's absolute count column (default: the demo does, a registry, "
        "as FlowJo, does not; cells/uL then come from the beads)",
    )
    generate.add_argument(
        "--redcap-layout",
        choices=("classic", "longitudinal", "mixed"),
        default="classic",
        help="REDCap exports as the shipped project (classic), as each site's own longitudinal "
        "project with its mapping.yml, or mixed (every other registry site longitudinal)",
    )
    generate.add_argument(
        "--cytometry-dialect",
        default=None,
        metavar="DIALECT",
        help="how every lab writes its statistics tables, one of cartwh.generate.lab_dialects."
        "DIALECTS (default: the demo canonical CSV, a registry's sites each in turn)",
    )
    generate.add_argument(
        "--fcs-files",
        choices=("none", "sample", "all"),
        default="sample",
        help="tubes also written as FCS files, gated by the shipped GatingML templates: one per panel beside "
        "the tables (sample, the default), none, or every tube instead of the tables (all)",
    )
    generate.add_argument(
        "--events-scale",
        type=float,
        default=1.0,
        help="share of each tube's events acquired (e.g. 0.01 keeps FCS files of every tube small)",
    )
    generate.set_defaults(handler=_generate)

    ingest = commands.add_parser(
        "ingest",
        help="ingest the landing folder into the raw layer (no Dagster)",
        description="Load new export files into the DuckDB raw schema.",
    )
    ingest.set_defaults(handler=_ingest)

    run = commands.add_parser(
        "run",
        help="run the main job on what has landed",
        description="Materialize every asset of the main job in-process, on what has landed.",
    )
    run.add_argument(
        "--demo",
        action="store_true",
        help="first write the synthetic demo cohort, if this data folder has never held anything and no "
        "real pseudonym key is set (what `make run` does)",
    )
    run.add_argument("--in-this-process", action="store_true", help=argparse.SUPPRESS)  # the child of `cartwh run`
    run.add_argument("--log-file", help=argparse.SUPPRESS)
    run.add_argument("--force", action="store_true", help="run even when nothing is new since the last published night")
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild dbt's incremental models from the whole raw layer (implies --force)",
    )
    run.set_defaults(handler=_run)

    pull = commands.add_parser(
        "pull",
        help="export a site's REDCap project through the API into the landing folder",
        description="Export metadata and the records changed since the last pull (all on the "
        "first) through REDCap's API, into landing/redcap/<site>/. The API address is "
        "read from CARTWH_REDCAP_URL, the token from CARTWH_REDCAP_TOKEN or the file "
        "named by CARTWH_REDCAP_TOKEN_FILE.",
    )
    pull.add_argument("--site", required=True, help="the site whose project this is: its folder landing/redcap/<site>/")
    pull.set_defaults(handler=_pull)

    sql = commands.add_parser(
        "sql",
        help="read-only SQL on the published warehouse (interactive without a query)",
        description="Run queries on the published warehouse; statements that write are refused.",
    )
    sql.add_argument("query", nargs="?", help="SQL to run; omit for an interactive session")
    from cartwh.sql import FORMATS  # the formats the query runner writes

    sql.add_argument(
        "--format",
        choices=FORMATS,
        default=FORMATS[0],
        help="output (default: %(default)s); in the shell, .mode changes it",
    )
    sql.set_defaults(handler=_sql)

    rebuild = commands.add_parser(
        "rebuild",
        help="rebuild the warehouse from scratch from the archived exports",
        description="Replay every archived export version into a fresh warehouse, then run "
        "the main job (marts, checks, statistics, publish).",
    )
    # The raw layer is new: the run rebuilds everything downstream, though the landing is unchanged.
    rebuild.set_defaults(handler=_rebuild, force=True, full_refresh=True)

    status = commands.add_parser(
        "status",
        help="the published copy: its night, rows per table, files, quarantine",
        description="Summarise what the published copy (what analysts read) holds, and which night it is from.",
    )
    status.set_defaults(handler=_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    from cartwh.permissions import keep_new_files_private

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    keep_new_files_private()  # whatever cartwh writes is its account's only (what analysts read is opened explicitly)
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

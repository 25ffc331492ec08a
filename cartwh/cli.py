"""The `cartwh` command line."""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from pathlib import Path

from cartwh import settings
from cartwh.generate import DEFAULT_SEED


def _generate(args) -> int:
    from cartwh.generate import generate_landing

    landing = Path(args.landing)
    if landing.exists() and any(landing.rglob("*.csv")) and not args.force:
        print(f"{landing} already holds exports; use --force to write into it anyway.", file=sys.stderr)
        return 1
    summary = generate_landing(landing, args.patients, args.sites, args.seed, args.faults, progress=True)
    kind = "paper cohort" if args.patients is None else "registry"
    print(f"Wrote {summary.files:,} export files for {summary.patients:,} patients ({kind}, "
          f"{summary.sites} site(s)) to {landing}: {summary.redcap_rows:,} REDCap rows, "
          f"{summary.samples:,} cytometry tubes.")  # fmt: skip
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
    from cartwh.ingest import SOURCES, ingest_source
    from cartwh.ingest.errors import IngestError
    from cartwh.ingest.warehouse import connect
    from cartwh.locking import writer_lock
    from cartwh.pseudonym import PseudonymKeyError

    failed = False
    with writer_lock(settings.warehouse_path()):
        con = connect(settings.warehouse_path())
        for source in SOURCES:
            try:
                report = ingest_source(con, settings.landing_dir(), source, settings.archive_dir())
            except PseudonymKeyError as error:  # nothing was ingested: no other source may be either
                print(error, file=sys.stderr)
                con.close()
                return 1
            except IngestError as error:
                print(error, file=sys.stderr)
                failed = True
                continue
            print(f"{source}: {len(report.files_loaded)} file(s) loaded, {len(report.files_skipped)} already ingested, "
                  f"{sum(report.rows.values()):,} rows added, {report.rows_quarantined} quarantined")  # fmt: skip
            for name in report.files_still_being_written:
                print(f"{source}: {name} is still being written: left for the next run")
        con.close()
    return 1 if failed else 0


def _sql(args) -> int:
    import duckdb

    from cartwh.sql import ReadOnlyRefusal, interactive, run_sql

    try:
        if args.query is None:
            interactive(settings.published_path(), args.format)
        else:
            print(run_sql(settings.published_path(), args.query, args.format))
    except (ReadOnlyRefusal, FileNotFoundError, duckdb.Error) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def _rebuild(args) -> int:
    from cartwh.locking import writer_lock
    from cartwh.rebuild import rebuild_raw

    working = settings.warehouse_path()
    if not working.exists():  # the published copy holds no raw layer, so no ledger either
        print(f"Nothing to rebuild from: no working warehouse at {working} to read the ledger from.", file=sys.stderr)
        return 1
    with writer_lock(working):
        replayed = rebuild_raw(working, working, settings.archive_dir())
    print(f"Replayed {replayed} archived file versions into a fresh raw layer (ledger of {working}); "
          f"the previous warehouse is kept as {working.stem}.before-rebuild.duckdb. Rebuilding everything downstream...")
    return _run(args)


def _run(args) -> int:
    landing = settings.landing_dir()
    if not landing.exists() or not any(landing.rglob("*.csv")):
        from cartwh.generate import generate_landing

        summary = generate_landing(landing, progress=True)
        print(f"Landing folder was empty: wrote the demo cohort ({summary.patients} patients, "
              f"{summary.files} files) to {landing}.")  # fmt: skip
    from orchestration.run import rows_added, run_main_job

    result = run_main_job()
    print(_status_text())
    added = rows_added(result)
    print(f"\nThis run added {sum(added.values()):,} rows "
          f"({', '.join(f'{t}: {n:,}' for t, n in sorted(added.items()) if n) or 'nothing new had landed'}).")
    _print_query_help()
    _print_quality(result)
    report = settings.report_dir() / "study_report.html"
    if report.exists():
        print(f"Study report (open in a browser): {report}")
    if not result.success:
        for event in result.all_events:
            if event.is_failure:
                print(f"\nFAILED: {event.step_key}: {event.message}", file=sys.stderr)
        return 1
    return 0


def _print_quality(result) -> None:
    """Where the quality reports are, and any check that failed (blocking ones stop the statistics)."""
    from expectations.suites import all_suites

    evaluations = result.get_asset_check_evaluations()
    suites = {s.name for s in all_suites()}
    failed = [e for e in evaluations if not e.passed]
    ran = sum(e.check_name in suites for e in evaluations)
    print(f"\nData-quality checks: {ran} Great Expectations suites and {len(evaluations) - ran} dbt tests ran, "
          f"{len(failed)} failed.")  # fmt: skip
    for evaluation in failed:
        blocking = evaluation.severity.value == "ERROR"
        print(f"  {'BLOCKING' if blocking else 'warning '} {evaluation.check_name} on "
              f"{'/'.join(evaluation.asset_key.path)}: {evaluation.description or 'see dbt test results'}")  # fmt: skip
    if any(e.severity.value == "ERROR" for e in failed):
        print("  The statistics and the study report were NOT recomputed: a blocking check failed.")
    print(f"Data-quality report: {settings.report_dir() / 'data_quality.html'}")
    print(f"Great Expectations Data Docs: {settings.quality_dir() / 'gx/uncommitted/data_docs/local_site/index.html'}")


def _status_text() -> str:
    from cartwh.status import warehouse_summary

    return warehouse_summary(settings.warehouse_path())


def _print_query_help() -> None:
    path = settings.published_path()
    if not path.exists():
        return
    print(f"""
Analysts read the published copy: {path}
  .venv/bin/cartwh sql "SELECT * FROM analytics.landmark_survival"       (read-only; no query: interactive)
  duckdb.connect('{path}', read_only=True).sql('SELECT ...').df()         (Python / pandas)""")


def _status(args) -> int:
    print(_status_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cartwh", description="CAR-T monitoring data warehouse.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    generate = commands.add_parser("generate", help="write a synthetic landing folder (paper cohort or registry)",
                                   description="Write synthetic REDCap and cytometry exports in the contract's formats.")  # fmt: skip
    generate.add_argument("--landing", default=str(settings.landing_dir()), help="folder to write (default: %(default)s)")
    generate.add_argument("--patients", type=int, help="registry size; omit for the paper's 24-patient cohort")
    generate.add_argument("--sites", type=int, default=1, help="centres of the registry (default: %(default)s)")
    generate.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    generate.add_argument("--faults", action="store_true", help="inject realistic export faults")
    generate.add_argument("--faults-log", default=str(settings.data_dir() / "faults_injected.csv"),
                          help="where to list the injected faults (default: %(default)s)")  # fmt: skip
    generate.add_argument("--force", action="store_true", help="write even if the folder holds exports")
    generate.set_defaults(handler=_generate)

    ingest = commands.add_parser("ingest", help="ingest the landing folder into the raw layer (no Dagster)",
                                 description="Load new export files into the DuckDB raw schema.")  # fmt: skip
    ingest.set_defaults(handler=_ingest)

    run = commands.add_parser("run", help="run the main job (generates the demo cohort if nothing has landed)",
                              description="Materialize every asset of the main job in-process.")  # fmt: skip
    run.set_defaults(handler=_run)

    sql = commands.add_parser("sql", help="read-only SQL on the published warehouse (interactive without a query)",
                              description="Run queries on the published warehouse; statements that write are refused.")  # fmt: skip
    sql.add_argument("query", nargs="?", help="SQL to run; omit for an interactive session")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output (default: %(default)s)")
    sql.set_defaults(handler=_sql)

    rebuild = commands.add_parser("rebuild", help="rebuild the warehouse from scratch from the archived exports",
                                  description="Replay every archived export version into a fresh warehouse, then run "
                                              "the main job (marts, checks, statistics, publish).")  # fmt: skip
    rebuild.set_defaults(handler=_rebuild)

    status = commands.add_parser("status", help="rows per table, files ingested, quarantine summary",
                                 description="Summarise what the warehouse holds.")  # fmt: skip
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

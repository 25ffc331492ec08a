"""A run's summaries: a failed or blocked daemon run recorded in ops.run_history (the summary
and the run's own record as it opens and closes: cartwh/night/run_events.py), and what
`cartwh run` prints when a run ends (`console_summary`)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from cartwh import settings
from cartwh.dbt.test_summaries import CHECK as DBT_TESTS
from cartwh.night import run_marker
from cartwh.night.failures import describe
from cartwh.night.locking import writer_lock
from cartwh.night.published_night import leave_unpublished_marker
from cartwh.night.run_events import summarize_run
from cartwh.night.run_history import is_recorded
from cartwh.quality.data_docs import data_docs_index
from cartwh.quality.data_manager_report import open_issues
from cartwh.quality.dbt_tests import dbt_test_results
from cartwh.warehouse.connection import connect
from cartwh.warehouse.status import run_summary_lines


def record_failure(instance: dg.DagsterInstance, run_id: str) -> None:
    """A failed or blocked run of the daemon still belongs in ops.run_history: the run normally
    recorded itself as it closed; if it did not get that far, record it here. Until a later run
    publishes, the marker beside the published copy tells analysts about it
    (cartwh/night/published_night.py)."""
    summary = summarize_run(instance, run_id, status="failed")
    with writer_lock(settings.warehouse_path()):
        try:
            con = connect(settings.warehouse_path())
            try:
                recorded = is_recorded(con, run_id)
            finally:
                con.close()
        except duckdb.Error:
            recorded = False
        if not recorded:
            run_marker.record_or_defer(settings.warehouse_path(), summary)
    leave_unpublished_marker(settings.published_path(), summary)  # what analysts can read of this night


# Failed checks listed one per line on the console; the rest are counted (every one is in the
# data-quality report, so the summary still fits on one screen on a faulty night).
FAILED_CHECKS_SHOWN = 8


def console_summary(result: dg.ExecuteInProcessResult, log_file: Path) -> list[str]:
    """What `cartwh run` prints after its stage lines: the working warehouse in a few lines, the
    data-quality checks (failed ones first), where the reports and the published copy are, and the
    log. A list of lines, in the order printed: a new line is one more entry."""
    try:
        lines = [""] + run_summary_lines(settings.warehouse_path(), rows_added(result))
    except duckdb.Error as error:  # e.g. a damaged warehouse: one sentence, not a traceback
        lines = ["", f"Warehouse {settings.warehouse_path()} cannot be read: {describe(str(error))}"]
    lines += [f"NOT READ: {line}" for line in unrecognised_files(result)]
    lines += [""] + _quality_lines(result, *_pages_counts())
    reports = settings.report_dir()
    lines += [
        f"Data-quality report: {reports / 'data_quality.html'}",
        f"Data manager's report (restricted: record ids): {settings.data_manager_dir() / 'data_manager.html'}",
        f"Great Expectations Data Docs: {data_docs_index(settings.quality_dir())}",
    ]
    if (reports / "study_report.html").exists():
        lines.append(f"Study report (open in a browser): {reports / 'study_report.html'}")
    if (reports / "study_report.pdf").exists():  # printed where headless Chromium is installed (a warning says if not)
        lines.append(f"Study report as PDF (A4): {reports / 'study_report.pdf'}")
    published = settings.published_path()
    if published.exists():
        lines += [
            "",
            f"Analysts read the published copy: {published}",
            '  .venv/bin/cartwh sql "SELECT * FROM analytics.landmark_survival"   (no query: interactive)',
        ]
    lines.append(f"Dagster UI (`make serve`, http://127.0.0.1:3000) lists this run: {result.run_id[:8]}")
    lines.append(f"Log (dbt, Dagster, tracebacks): {log_file}")
    return lines


def rows_added(result: dg.ExecuteInProcessResult) -> dict[str, int]:
    """Rows each raw table gained in this run, from the materialization metadata: the assets' own
    tables and the tables their step also wrote (a site's raw.redcap_site_* tables)."""
    added = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        value = materialization.metadata.get("rows_added")
        if value is not None:
            added[".".join(materialization.asset_key.path)] = value.value
        elsewhere = materialization.metadata.get("rows_added_elsewhere")  # a site's own tables
        added |= elsewhere.value if elsewhere is not None else {}
    return added


def unrecognised_files(result: dg.ExecuteInProcessResult) -> list[str]:
    """Each source's line about files it found but does not read (cartwh.ingest.unrecognised)."""
    lines = []
    for event in result.get_asset_materialization_events():
        value = event.step_materialization_data.materialization.metadata.get("unrecognised")
        if value is not None and value.value != "none" and value.value not in lines:
            lines.append(value.value)
    return lines


def _pages_counts():
    """What the pages show that Dagster's check evaluations do not: each dbt test that warned or
    failed, with its failing rows and meaning (a model's `dbt_tests` check only names them:
    cartwh/quality/dbt_tests.py), and the data manager's report's open issues."""

    try:
        con = connect(settings.warehouse_path(), read_only=True)
    except duckdb.Error:
        return None, None
    try:
        return dbt_test_results(con), open_issues(con)
    finally:
        con.close()


def _named(evaluations: list[dg.AssetCheckEvaluation], entry: str) -> set[str]:
    """The dbt tests a `dbt_tests` check's metadata names in `entry`, one a line
    (cartwh.dbt.test_summaries.ModelTests.metadata), over all the models' checks: a test that reads
    several models is named by each of their checks, and counted once."""
    lines = (line for e in evaluations if entry in e.metadata for line in str(e.metadata[entry].value).splitlines())
    return {line.split(" ")[0] for line in lines if line and line != "none"}


def _rows(failures) -> str:
    return f"{int(failures):,} rows: " if failures is not None and failures == failures else ""


def _quality_lines(result: dg.ExecuteInProcessResult, dbt_tests=None, issues=None) -> list[str]:
    """The checks that ran and the ones that failed, blocking first: the Great Expectations suites
    and source health, and each dbt test that the data-quality pages list as warned or failed (from
    the table the build left, `dbt_tests`; without it, the models' `dbt_tests` checks that did not
    pass, one line per model); then the data manager's report's open issues."""

    evaluations = result.get_asset_check_evaluations()
    checks = [e for e in evaluations if e.check_name != DBT_TESTS]
    of_models = [e for e in evaluations if e.check_name == DBT_TESTS]  # one per model: its dbt tests
    tests_run = len(_named(of_models, "tests"))
    failed = [e for e in checks if not e.passed]
    if dbt_tests is None:
        failed += [e for e in of_models if not e.passed]
        tests_failed = len(_named(of_models, "not passed"))
    else:
        tests_failed = len(dbt_tests)
    shown = [
        (e.severity == dg.AssetCheckSeverity.ERROR, e.check_name, "/".join(e.asset_key.path), e.description)
        for e in failed
    ]
    if dbt_tests is not None:
        shown += [
            (t.severity == "blocking", t.test, t.models, f"{_rows(t.failures)}{t.meaning}")
            for t in dbt_tests.itertuples()
        ]
    shown.sort(key=lambda line: not line[0])  # blocking first
    lines = [
        f"Data-quality checks: {len(checks)} checks (Great Expectations suites, source health) and "
        f"{tests_run} dbt tests ran, {sum(not e.passed for e in checks) + tests_failed} failed."
    ]
    for blocking, name, on, description in shown[:FAILED_CHECKS_SHOWN]:
        why = " ".join((description or "see dbt test results").split())
        line = f"  {'BLOCKING' if blocking else 'warning '} {name} on {on}: {why}"
        lines.append(line if len(line) <= 160 else line[:157] + "...")
    if len(shown) > FAILED_CHECKS_SHOWN:
        lines.append(f"  ... and {len(shown) - FAILED_CHECKS_SHOWN} more (the data-quality report lists every one)")
    if any(blocking for blocking, *_ in shown):
        lines.append("  The statistics and the study report were NOT recomputed: a blocking check failed.")
    if issues and issues[1]:
        causes, count, blocking, warnings = issues
        lines.append(
            f"Open issues: {count:,} under {causes:,} root cause(s) ({blocking} blocking, {warnings} warning(s), "
            f"{causes - blocking - warnings} set aside at ingestion): the data manager's report says what to do."
        )
    return lines

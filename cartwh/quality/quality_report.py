"""The analysts' data-quality page: can the marts be trusted, and what is wrong in the exports,
de-identified; and its short version inside the study report (`quality_summary`).

Read from the warehouse: `quality.*` (check results, failing rows), `raw.quarantine` and
`raw.landed_files`. Open issues are grouped by root cause (cartwh.quality.root_causes) with
counts and patient pseudonyms: no record id, file name, row or value, which the data manager's
restricted report (cartwh.quality.data_manager_report) carries instead. Open issues are those in
file versions still current (a corrected re-export supersedes them and they disappear); mart
checks show the latest run; "changes" compares the latest run with the one before. Written once
per run, at its end (`write_quality_reports`, from the run's warehouse resource), so it shows the
run itself in "Last nights" even when a blocking check stopped the rest of the run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.contract.site_mapping import must_cover
from cartwh.pages import page_writer
from cartwh.quality.data_docs import write_data_docs
from cartwh.quality.data_manager_report import write_data_manager_report
from cartwh.quality.dbt_tests import dbt_test_results
from cartwh.quality.root_causes import analyst_groups, has_table, root_causes
from cartwh.synthetic import banner
from cartwh.warehouse.connection import insert_frame
from cartwh.warehouse.project_versions import dictionary_changes, sites_awaiting_mapping
from cartwh.warehouse.schema import replace
from cartwh.warehouse.unrecognised_files import unrecognised_counts, unrecognised_files

write_page = page_writer("cartwh.quality")  # its templates/ folder

REPORT_FILE = "data_quality.html"

RUNS = "SELECT run_id, max(checked_at) AS at FROM quality.expectation_results GROUP BY 1 ORDER BY 2 DESC LIMIT 2"
LATEST_CHECKS = """
    SELECT suite, guards, scope, max(rows_validated) AS rows_validated,
           count(*) FILTER (WHERE NOT success AND severity = 'blocking') AS failed_blocking,
           count(*) FILTER (WHERE NOT success AND severity = 'blocking' AND blocks IS NOT NULL) AS failed_scoped,
           count(*) FILTER (WHERE NOT success AND severity = 'warn') AS failed_warn, count(*) AS expectations
    FROM quality.expectation_results WHERE run_id = ? GROUP BY ALL ORDER BY scope DESC, suite
"""
MART_FAILURES = """
    SELECT suite, expectation, column_name, severity, why, unexpected_count, observed
    FROM quality.expectation_results WHERE run_id = ? AND NOT success AND scope = 'table' ORDER BY severity, suite
"""
QUARANTINE_COUNTS = """
    SELECT l.source, q.column_name, regexp_replace(q.reason, 'row [0-9]+', 'another row') AS reason,
           count(*) AS rows_quarantined, count(DISTINCT q.patient_key) AS patients
    FROM raw.quarantine AS q JOIN raw.landed_files AS l USING (load_id) WHERE l.superseded_by IS NULL
    GROUP BY ALL ORDER BY rows_quarantined DESC, l.source, q.column_name
"""
FILES = """
    SELECT source, count(*) FILTER (WHERE superseded_by IS NULL) AS current_files,
           count(superseded_by) AS superseded_files, sum(rows_loaded) AS rows_loaded,
           sum(rows_quarantined) AS rows_quarantined, max(loaded_at) AS last_loaded_at
    FROM raw.landed_files GROUP BY source ORDER BY source
"""
# Derived values a reader of the tables would miss first, with the reason the mart gives.
MISSING = """
    SELECT 'Tumour-burden transition' AS value, transition_missing AS reason, count(*) AS patients
      FROM marts.tumor_burden_transitions WHERE tumor_burden_transition IS NULL GROUP BY ALL
    UNION ALL
    SELECT 'ALL-Hematotox score', 'missing: ' || missing_components, count(*)
      FROM marts.hematotox_scores WHERE hematotox_score IS NULL GROUP BY ALL
    UNION ALL
    SELECT 'AUC_14', auc_null_reason, count(*) FROM marts.car_t_expansion WHERE auc_14 IS NULL GROUP BY ALL
    UNION ALL
    SELECT 'Phenotype at peak', 'no phenotype tube at the peak sample', count(*)
      FROM marts.car_t_expansion WHERE NOT phenotype_at_peak_available GROUP BY ALL
    ORDER BY 1, 2
"""
LANDED_SINCE = """
    SELECT source, count(*) AS files, sum(rows_loaded) AS rows_loaded, sum(rows_quarantined) AS rows_quarantined
    FROM raw.landed_files WHERE loaded_at > ? GROUP BY 1 ORDER BY 1
"""
STATUS_CHANGES = """
    WITH now AS (SELECT suite, expectation, column_name, severity, success FROM quality.expectation_results WHERE run_id = ?),
    before AS (SELECT suite, expectation, column_name, success FROM quality.expectation_results WHERE run_id = ?)
    SELECT now.suite, now.expectation, now.column_name, now.severity,
           CASE WHEN now.success THEN 'resolved' ELSE 'new failure' END AS change
    FROM now JOIN before USING (suite, expectation, column_name) WHERE now.success <> before.success
    ORDER BY change, now.suite
"""


def _frame(con, sql: str, params=None):
    """A query as a DataFrame with None for missing values (what the template tests for)."""
    df = con.execute(sql, params or []).df().astype(object)
    return df.where(df.notna(), None)


LAST_NIGHTS = """
    SELECT started_at, status, round(duration_seconds) AS seconds, checks_passed, checks_failed,
           blocking_checks_failed, rows_per_table
    FROM ops.run_history ORDER BY started_at DESC LIMIT 14
"""


def _scalar(con, sql: str, params=None):
    return con.execute(sql, params or []).fetchall()[0][0]


def _last_nights(con):
    if not has_table(con, "ops", "run_history"):
        return None
    nights = _frame(con, LAST_NIGHTS)
    nights["rows"] = [
        sum(v for k, v in json.loads(r).items() if k.startswith("marts.")) for r in nights["rows_per_table"]
    ]
    return nights


SOURCE_HEALTH = """SELECT check_name, subject, message, coalesce(blocking, true) AS blocking FROM quality.source_health
                   WHERE run_id = ? ORDER BY check_name, subject"""
LATEST_NIGHT = "SELECT status, message FROM ops.run_history ORDER BY started_at DESC LIMIT 1"
NIGHT_ENDS = {"blocked": "was blocked", "failed": "failed", "interrupted": "was interrupted"}
_CHECK_COUNTS = ("failed_blocking", "failed_scoped", "failed_warn")


@dataclass(frozen=True)
class Verdict:
    """Whether the marts can be trusted (`level`: bad, warn or ok), and why, one line a cause."""

    level: str
    headline: str
    causes: list[str] = field(default_factory=list)


def verdict(q: dict, night: tuple[str, str | None] | None) -> Verdict:
    """Computed from what actually blocked or failed: the blocking source-health findings, the
    latest night's own end (`night`: its status and why, from ops.run_history), the blocking
    expectations and the dbt tests that failed; then what blocks only some analyses, what warns."""
    health = q["source_health"] if q["source_health"] is not None else pd.DataFrame(columns=["message", "blocking"])
    checks = q["checks"] if q["checks"] is not None else pd.DataFrame(columns=list(_CHECK_COUNTS))
    tests = q["dbt_tests"]
    counts = {column: int(checks[column].sum()) for column in _CHECK_COUNTS}
    blocks = health["blocking"].astype(bool)
    if blocks.any():
        return Verdict("bad", "Broken sources: the night is blocked.", list(health.loc[blocks, "message"]))
    blocking = counts["failed_blocking"] - counts["failed_scoped"]
    causes = [f"{blocking} blocking expectation(s) failed (below)"] if blocking else []
    causes += [
        f"dbt test {t.test} failed on {t.models}: {t.meaning}"
        for t in tests[tests["severity"] == "blocking"].itertuples()
    ]
    if night and night[0] in NIGHT_ENDS:
        causes.append(f"the latest night {NIGHT_ENDS[night[0]]}" + (f": {night[1]}" if night[1] else ""))
    if causes:
        return Verdict(
            "bad",
            "The marts cannot be trusted: the statistics and the study report were not recomputed (the previous "
            "ones stay). Fix the exports below and re-export.",
            causes,
        )
    if counts["failed_scoped"]:
        return Verdict(
            "warn",
            f"Some analyses are blocked: {counts['failed_scoped']} blocking expectation(s) that vouch for particular "
            "columns failed (below). The analyses, table rows and figures that read those columns are marked "
            '"not estimable: blocked by …" in the study report and in analytics.*; everything else was recomputed '
            "and published.",
        )
    warnings = counts["failed_warn"] + len(tests) + int((~blocks).sum())
    if warnings:
        return Verdict(
            "warn",
            f"The marts can be trusted; {warnings} warning(s) concern rows the marts leave out or flag. Details below.",
        )
    return Verdict("ok", "All checks passed. The marts and the statistics built on them can be trusted.")


def quality_context(con: duckdb.DuckDBPyConnection) -> dict:
    """Everything the page shows, as DataFrames and numbers."""
    runs = con.execute(RUNS).fetchall() if has_table(con, "quality", "expectation_results") else []
    latest = runs[0][0] if runs else None
    health = _frame(con, SOURCE_HEALTH, [latest]) if latest and has_table(con, "quality", "source_health") else None
    previous = runs[1] if len(runs) > 1 else None
    nights = con.execute(LATEST_NIGHT).fetchall() if has_table(con, "ops", "run_history") else []
    q = dict(
        latest_run=latest,
        checked_at=runs[0][1] if runs else None,
        source_health=health,
        checks=_frame(con, LATEST_CHECKS, [latest]) if latest else None,
        mart_failures=_frame(con, MART_FAILURES, [latest]) if latest else None,
        dbt_tests=dbt_test_results(con),  # the latest dbt build's tests that warned or failed
        root_causes=analyst_groups(root_causes(con, archive=None)),
        quarantine=_frame(con, QUARANTINE_COUNTS),
        unrecognised=unrecognised_counts(unrecognised_files(con)),
        awaiting_mapping=sites_awaiting_mapping(con),
        must_cover=must_cover(project_dictionary()),
        previous_run=previous[0] if previous else None,
        landed_since=_frame(con, LANDED_SINCE, [previous[1]]) if previous else None,
        changes=_frame(con, STATUS_CHANGES, [latest, previous[0]]) if previous else None,
        last_nights=_last_nights(con),
        dictionary_changes=dictionary_changes(con),  # a site's REDCap dictionary, version to version
    )
    q["verdict"] = verdict(q, nights[0] if nights else None) if latest or nights else None
    q["lost_values"] = [] if health is None else list(health.loc[~health["blocking"].astype(bool), "message"])
    return q


def quality_summary(con: duckdb.DuckDBPyConnection) -> dict:
    """The study report's short version: files ingested, the open quarantine counted by source,
    column and reason (no file, row or value: the study report is the analysts'), and which
    derived values are missing and why (the reasons the marts carry beside NULLs)."""
    return {
        "files": _frame(con, FILES),
        "quarantine": _frame(con, QUARANTINE_COUNTS),
        "quarantine_total": _scalar(con, "SELECT count(*) FROM raw.quarantine"),
        "missing": _frame(con, MISSING),
    }


def write_quality_report(con: duckdb.DuckDBPyConnection, out_dir: Path, gx_root: Path) -> Path:
    """The analysts' page (and the Data Docs it links to)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    docs = write_data_docs(Path(gx_root))
    return write_page(
        "data_quality.html.j2",
        out_dir / REPORT_FILE,
        q=quality_context(con),
        data_docs=os.path.relpath(docs, out_dir),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        synthetic=banner(con),
    )


ROOT_CAUSES_TABLE = "quality.root_causes"


def store_root_causes(con: duckdb.DuckDBPyConnection) -> None:
    """The analysts' root-cause groups as a table, for the published copy (cartwh.quality.published_quality)."""
    groups = analyst_groups(root_causes(con, archive=None))
    replace(con, ROOT_CAUSES_TABLE)  # declared in cartwh.warehouse.schema, rewritten whole
    insert_frame(con, ROOT_CAUSES_TABLE, groups)


def write_quality_reports(
    con: duckdb.DuckDBPyConnection, reports: Path, gx_root: Path, restricted: Path, archive: Path
) -> tuple[Path, Path]:
    """A run's two data-quality pages, once, at its end: the analysts' (de-identified, in the
    shared `reports` folder) and the data manager's (record ids, in the private `restricted` one)."""
    return (
        write_quality_report(con, Path(reports), Path(gx_root)),
        write_data_manager_report(con, Path(restricted), Path(archive)),
    )

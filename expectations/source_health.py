"""Source health: broken exports stop the night loudly, naming the file and the likely cause.

The Great Expectations suites judge values; these checks judge whether a source delivered at
all. Each finding blocks the statistics, the report and publication (a blocking asset check
on marts/patients), and the data-quality report leads with them:

- a current file version whose data rows were quarantined above a share (all of them, or
  more than `max_quarantined_share`): a changed layout or template, not a few typos; FCS files,
  one tube each, are judged per site (`fcs_findings`): one broken tube is a row's fault;
- a non-empty export that landed 0 rows and quarantined none: a layout the loader does not
  recognise (every column ignored, every cell empty);
- a mart with 0 rows although the raw tables it reflects hold rows (`MART_DRIVERS`): a broken
  join, filter or reference seed upstream;
- a site whose patients vanished: after a new version of an export replaced the one that held
  them, more than `max_vanished_share_per_site` of the site's patients are in no current
  export (records deleted in the EDC, a changed export filter, a partial export).
- a source whose folder holds files but none it reads (raw.unrecognised_files): the exports
  were saved in another format (a spreadsheet, a text export), so nothing of the source landed.

A file's likely cause is read from what was quarantined (`likely_cause`): rows that do not split
into the header's columns (another delimiter), a longitudinal export loaded without its events
(`redcap_event_name` ignored, rows of one record conflicting), choice labels instead of raw codes
(a labels export), codes written as decimals (a data frame written to CSV), dates or numbers in
another format, or columns that are not the dictionary's fields (a site project with its own
field names, which needs its mapping).

Limits are in the seed `dbt_project/seeds/source_health_thresholds.csv`. Findings are kept
in `quality.source_health` per run. A finding persists while its cause is current (the file
version, the empty mart): a corrected re-export clears it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from cartwh.contract.cytometry import is_summary_row
from cartwh.contract.redcap import project_dictionary
from cartwh.settings import PROJECT_ROOT

THRESHOLDS = PROJECT_ROOT / "dbt_project" / "seeds" / "source_health_thresholds.csv"
DDL = """
CREATE SCHEMA IF NOT EXISTS quality;
CREATE TABLE IF NOT EXISTS quality.source_health (
    run_id VARCHAR, checked_at TIMESTAMP, check_name VARCHAR, subject VARCHAR, observed DOUBLE,
    threshold DOUBLE, message VARCHAR);
"""


@dataclass(frozen=True)
class Finding:
    check_name: str  # quarantined_share | landed_nothing | empty_mart | vanished_patients | nothing_recognised
    subject: str  # the file, mart or site
    observed: float | None
    threshold: float | None
    message: str  # names the subject and the likely cause


def thresholds(path: Path = THRESHOLDS) -> dict[str, float]:
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["parameter"]: float(row["value"]) for row in csv.DictReader(handle)}


def _source_tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """The raw tables each source's rows land in (ingestion's SOURCES write these; a site's own
    REDCap project also lands in its raw.redcap_site_<site>__<form> tables)."""
    sites = [
        f"raw.{t}"
        for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' "
            "AND starts_with(table_name, 'redcap_site_') ORDER BY 1"
        ).fetchall()
    ]
    return {
        "redcap": [f"raw.redcap_{form}" for form in project_dictionary().forms] + sites,
        "cytometry_manifest": ["raw.cytometry_samples"],
        "cytometry_statistics": ["raw.cytometry_population_stats"],
        "cytometry_fcs": ["raw.cytometry_fcs_files", "raw.cytometry_population_stats"],
        "redcap_deletions": ["raw.redcap_deleted_records"],
    }


def _suspect_files(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Current file versions that quarantined a data row or landed nothing, with their counts of
    data rows landed (distinct source rows in any raw table) and quarantined (rows > 1: row 1
    holds header notes). Only these can fail, so the large tables are read for them alone."""
    suspects = con.execute("""
        SELECT f.load_id, f.source, f.file, f.archive_path, f.records_read - f.records_skipped AS data_rows,
               f.records_read - 1 AS records_below_header,
               count(DISTINCT q."row") FILTER (WHERE q."row" > 1) AS quarantined,
               count(DISTINCT q.column_name) FILTER (WHERE q."row" = 1) AS columns_ignored
        FROM raw.landed_files AS f LEFT JOIN raw.quarantine AS q USING (load_id)
        WHERE f.superseded_by IS NULL AND (f.rows_quarantined > 0 OR f.rows_loaded = 0)
        GROUP BY ALL ORDER BY f.file""").df()
    suspects["landed"] = 0
    for source, tables in _source_tables(con).items():
        ids = suspects.loc[suspects["source"] == source, "load_id"].tolist()
        if not ids:
            continue
        union = " UNION ".join(f"SELECT _load_id, _source_row FROM {t} WHERE _load_id IN ?" for t in tables)
        landed = dict(
            con.execute(f"SELECT _load_id, count(*) FROM ({union}) GROUP BY 1", [ids] * len(tables)).fetchall()
        )
        suspects.loc[suspects["source"] == source, "landed"] = suspects["load_id"].map(landed).fillna(0).astype(int)
    return suspects


def _top_reason(con, load_id: int) -> str:
    row = con.execute(
        """SELECT reason, column_name, count(*) AS n FROM raw.quarantine WHERE load_id = ? AND "row" > 1
                         GROUP BY ALL ORDER BY n DESC, reason LIMIT 1""",
        [load_id],
    ).fetchall()
    if not row:
        return ""
    reason, column, n = row[0]
    return f"; most frequent reason ({n} rows): {reason}" + (f" in column '{column}'" if column else "")


# Each kind of quarantined row and what it most likely says about the whole export.
_ROW_CAUSES = """
    SELECT CASE
        WHEN reason LIKE 'malformed row%' THEN 'delimiter'
        WHEN reason LIKE 'conflicting rows%filled in more than one event%' THEN 'events'
        WHEN reason LIKE 'conflicting rows%' THEN 'conflicting'
        WHEN reason LIKE 'not one of the allowed codes%' AND regexp_full_match(trim(value), '-?[0-9]+[.]0+')
            THEN 'decimal_codes'
        WHEN reason LIKE 'not one of the allowed codes%' AND NOT regexp_full_match(coalesce(trim(value), ''), '-?[0-9]+')
            THEN 'labels'
        WHEN reason LIKE 'not a date%' THEN 'dates'
        WHEN reason LIKE 'not a number%' OR reason LIKE 'not an integer%' THEN 'numbers'
        ELSE 'other' END AS cause, count(DISTINCT "row") AS n
    FROM raw.quarantine WHERE load_id = ? AND "row" > 1 GROUP BY 1 ORDER BY n DESC, cause
"""
_CAUSES = {
    # A form the shipped project holds once per patient, filled in several events: the export is
    # longitudinal but its folder has no events, arms and mapping to say which event is which.
    "events": "a longitudinal REDCap export (one row per record and event, `redcap_event_name`) loaded without "
    "its events: land the project's events, arms and instrument-event mapping (or its site mapping) "
    "beside it (docs/data-contract.md)",
    "delimiter": "the rows do not split into the header's columns: another delimiter (semicolons, tabs) or "
    "quoting than a comma-separated export; export comma-separated CSV again",
    "labels": "choice labels instead of raw codes (a labels export): export again with raw codes ('Raw data' "
    "in REDCap's export dialog)",
    "decimal_codes": "codes written as decimals (2.0 for 2: a data frame written to CSV): export the codes as "
    "REDCap writes them",
    "dates": "dates in another format (e.g. DD/MM/YYYY, or with a time): export dates as YYYY-MM-DD",
    "numbers": "numbers in another format (a decimal comma, a unit in the cell): export numbers with a decimal point",
    "conflicting": "several rows per record where one is expected: a longitudinal or repeating layout without "
    "its event or instance columns",
}
_MAPPING = (
    "its columns are not the dictionary's field names: a site project with its own field names needs its "
    "mapping (docs/data-contract.md), or the export has labels instead of variable names as headers"
)
_GENERIC = (
    "the export's layout or template changed (a renamed column, another date or number format, another "
    "code list); fix the export and land it again"
)


def likely_cause(con: duckdb.DuckDBPyConnection, load_id: int) -> str:
    """The most likely reason a file version lost (nearly) all its rows, from its quarantine:
    the header's ignored columns first (they explain the rows), then the commonest row reason."""
    ignored = {
        c
        for (c,) in con.execute(
            """SELECT DISTINCT column_name FROM raw.quarantine WHERE load_id = ?
                                            AND "row" = 1 AND reason LIKE 'column not in%'""",
            [load_id],
        ).fetchall()
    }
    causes = con.execute(_ROW_CAUSES, [load_id]).fetchall()
    if causes and causes[0][0] in _CAUSES:
        return _CAUSES[causes[0][0]]
    return _MAPPING if ignored else _GENERIC


def data_records(path: Path) -> int:
    """Data records of a CSV export as a CSV reader counts them: header, blank lines and
    summary rows are not data. Only for file versions ingested before the ledger counted its
    records (raw.landed_files.records_read NULL); the others carry the count."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        rows = csv.reader(handle)
        next(rows, None)
        return sum(1 for r in rows if any(c.strip() for c in r) and not is_summary_row(r[0]))


def _data_rows(f) -> int:
    """A suspect file's data rows: the ledger's accounting, or a count of the archived file for a
    version ingested before the ledger counted records."""
    if not pd.isna(f.data_rows):
        return int(f.data_rows)
    return data_records(Path(f.archive_path)) if Path(f.archive_path).exists() else 0


_UNRECOGNISED_LAYOUT = (
    "a layout the loader does not recognise (columns renamed or labelled instead of raw names, "
    "every value empty); compare its header with docs/data-contract.md"
)


# Sources whose file versions are one tube each (an FCS file): a broken one is quarantined and
# reported like a row, and judged with its site's other files (fcs_findings), not alone.
ONE_TUBE_SOURCES = ("cytometry_fcs",)


def file_findings(con: duckdb.DuckDBPyConnection, limits: dict[str, float]) -> list[Finding]:
    limit = limits["max_quarantined_share"]
    findings = []
    for f in _suspect_files(con).itertuples():
        if f.source in ONE_TUBE_SOURCES:  # a file is one tube: one row's fault, never the night's
            continue
        rows = f.landed + f.quarantined
        if f.quarantined and f.quarantined / rows > limit:
            findings.append(
                Finding(
                    "quarantined_share",
                    f.file,
                    f.quarantined / rows,
                    limit,
                    (
                        f"{f.file}: {f.quarantined} of its {rows} data rows quarantined ({100 * f.quarantined / rows:.0f} %, "
                        f"limit {100 * limit:.0f} %){_top_reason(con, f.load_id)}. Likely cause: "
                        f"{likely_cause(con, f.load_id)}"
                    ),
                )
            )
        # Rows whose every column was ignored count as skipped (no form data): the export still lost them.
        elif rows == 0 and (records := _data_rows(f) or (f.records_below_header if f.columns_ignored else 0)):
            ignored = f"; {f.columns_ignored} column(s) ignored as unknown" if f.columns_ignored else ""
            findings.append(
                Finding(
                    "landed_nothing",
                    f.file,
                    0,
                    None,
                    (
                        f"{f.file}: {records} data row(s) in the export, none landed and none quarantined{ignored}. "
                        f"Likely cause: {_MAPPING if f.columns_ignored else _UNRECOGNISED_LAYOUT}"
                    ),
                )
            )
    return findings


# Each mart and the raw tables whose rows it must reflect: the patients' marts exist for every
# patient the EDC sends, the cytometry marts for every tube. (Optional sources such as labs or
# follow-up events are left out: a cohort without them legitimately has marts without them.)
MART_DRIVERS = {
    "patients": ["raw.redcap_demographics"],
    "tumor_burden_transitions": ["raw.redcap_demographics"],
    "hematotox_scores": ["raw.redcap_demographics"],
    "time_to_event": ["raw.redcap_demographics", "raw.redcap_lymphodepletion_infusion"],
    "car_t_kinetics": ["raw.cytometry_samples", "raw.cytometry_population_stats"],
    "car_t_expansion": ["raw.cytometry_samples", "raw.cytometry_population_stats"],
    "bca_episodes": ["raw.cytometry_samples", "raw.cytometry_population_stats"],
}


def mart_findings(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    def count(table: str) -> int:
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]

    built = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall()}
    findings = []
    for mart, sources in MART_DRIVERS.items():
        if mart not in built or count(f"marts.{mart}") or not all(count(s) for s in sources):
            continue
        findings.append(
            Finding(
                "empty_mart",
                f"marts.{mart}",
                0,
                None,
                (
                    f"marts.{mart} has 0 rows although the raw tables it is built from hold rows ({', '.join(sources)}). "
                    "Likely cause: a join or filter upstream that no longer matches (keys that changed between exports, "
                    "a reference seed, a dbt model); the marts cannot be trusted"
                ),
            )
        )
    return findings


VANISHED = """
    WITH previous AS (  -- the version each current export replaced, and the current ones that replaced none
        SELECT p.load_id, c.file FROM raw.landed_files AS p JOIN raw.landed_files AS c ON c.load_id = p.superseded_by
        WHERE p.source = 'redcap' AND c.superseded_by IS NULL
        UNION ALL
        SELECT c.load_id, c.file FROM raw.landed_files AS c
        WHERE c.source = 'redcap' AND c.superseded_by IS NULL
          AND NOT EXISTS (SELECT 1 FROM raw.landed_files AS p WHERE p.superseded_by = c.load_id)),
    current AS (
        SELECT DISTINCT patient_key FROM raw.redcap_demographics
        WHERE _load_id IN (SELECT load_id FROM raw.landed_files WHERE superseded_by IS NULL)),
    before AS (
        SELECT DISTINCT d.site, d.patient_key, v.file
        FROM raw.redcap_demographics AS d JOIN previous AS v ON v.load_id = d._load_id)
    SELECT coalesce(site, '(no data access group)') AS site, count(DISTINCT patient_key) AS patients,
           count(DISTINCT patient_key) FILTER (WHERE gone) AS vanished,
           string_agg(DISTINCT file, ', ' ORDER BY file) FILTER (WHERE gone) AS files
    FROM (SELECT *, patient_key NOT IN (SELECT patient_key FROM current) AS gone FROM before) GROUP BY 1 ORDER BY 1
"""


def patient_findings(con: duckdb.DuckDBPyConnection, limits: dict[str, float]) -> list[Finding]:
    limit = limits["max_vanished_share_per_site"]
    if not con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = 'redcap_demographics'"
    ).fetchall():
        return []  # no REDCap source ingested yet
    return [
        Finding(
            "vanished_patients",
            f"site {site}",
            vanished / patients,
            limit,
            (
                f"site {site}: {vanished} of its {patients} patients are in no current export since a new version of {files} "
                f"replaced the one that held them ({100 * vanished / patients:.0f} %, limit {100 * limit:.0f} %). "
                "Likely cause: records deleted in the EDC, a changed export filter (report, data access group) "
                "or a partial export; re-export the full project"
            ),
        )
        for site, patients, vanished, files in con.execute(VANISHED).fetchall()
        if patients and vanished / patients > limit
    ]


NOTHING_RECOGNISED = """
    SELECT u.source, count(*) AS files, string_agg(DISTINCT u.kind, ', ' ORDER BY u.kind) AS kinds
    FROM raw.unrecognised_files AS u
    WHERE NOT EXISTS (SELECT 1 FROM raw.landed_files AS l WHERE l.source = u.source AND l.superseded_by IS NULL)
    GROUP BY 1 ORDER BY 1
"""


def unrecognised_findings(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """A source whose folder holds only files it does not read: nothing of it landed. (A stray
    file beside exports that landed is reported, not blocking: cartwh/ingest/unrecognised.py.)"""
    if not con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = 'unrecognised_files'"
    ).fetchall():
        return []
    return [
        Finding(
            "nothing_recognised",
            f"source {source}",
            files,
            None,
            (
                f"source {source}: its folder holds {files} file(s) and none is an export it reads ({kinds}): nothing of "
                "this source landed. Likely cause: the exports were saved in another format; each file, and what to do, "
                "is listed under 'Files not read' in the data-quality report"
            ),
        )
        for source, files, kinds in con.execute(NOTHING_RECOGNISED).fetchall()
    ]


FCS_SITES = """
    SELECT split_part(file, '/', 3) AS site, count(*) AS files, count(*) FILTER (WHERE rows_quarantined > 0) AS broken,
           (SELECT q.reason FROM raw.quarantine AS q JOIN raw.landed_files AS b USING (load_id)
            WHERE b.source = 'cytometry_fcs' AND b.superseded_by IS NULL AND split_part(b.file, '/', 3) = split_part(f.file, '/', 3)
              AND q."row" > 1 GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1) AS reason
    FROM raw.landed_files AS f WHERE source = 'cytometry_fcs' AND superseded_by IS NULL GROUP BY ALL ORDER BY 1
"""


def fcs_findings(con: duckdb.DuckDBPyConnection, limits: dict[str, float]) -> list[Finding]:
    """A site whose current FCS files are mostly quarantined (one file is one tube, judged together)."""
    limit = limits["max_quarantined_share"]
    return [
        Finding(
            "quarantined_share",
            f"cytometry/fcs/{site}",
            broken / files,
            limit,
            (
                f"cytometry/fcs/{site}: {broken} of its {files} FCS files quarantined ({100 * broken / files:.0f} %, limit "
                f"{100 * limit:.0f} %); most frequent reason: {reason}. Likely cause: the files were cut short in transfer "
                "or written by software that does not follow the FCS standard; copy them from the cytometer again"
            ),
        )
        for site, files, broken, reason in con.execute(FCS_SITES).fetchall()
        if broken / files > limit
    ]


def source_health(con: duckdb.DuckDBPyConnection, limits: dict[str, float] | None = None) -> list[Finding]:
    """Every finding of tonight's warehouse (none: the sources are healthy)."""
    limits = limits or thresholds()
    return (
        file_findings(con, limits)
        + fcs_findings(con, limits)
        + mart_findings(con)
        + patient_findings(con, limits)
        + unrecognised_findings(con)
    )


def store_findings(con: duckdb.DuckDBPyConnection, findings: list[Finding], run_id: str) -> None:
    con.execute(DDL)
    now = datetime.now(UTC).replace(tzinfo=None)
    for f in findings:
        con.execute(
            "INSERT INTO quality.source_health VALUES (?, ?, ?, ?, ?, ?, ?)",
            [run_id, now, f.check_name, f.subject, f.observed, f.threshold, f.message],
        )

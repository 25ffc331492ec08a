"""Source health: broken exports stop the night loudly, naming the file and the likely cause.

The Great Expectations suites judge values; these checks judge whether a source delivered at
all. Each finding blocks the statistics, the report and publication (a blocking asset check
on marts/patients), and the data-quality report leads with them:

- a file that could not be read at all (raw.ingest_failures, cartwh/ingest/failed_files.py): it
  failed alone, every other file landed, and the night stops here, naming it and why;
- a current file version of `min_data_rows` or more whose data rows were quarantined above a
  share (all of them, or more than `max_quarantined_share`): a changed layout or template, not a
  few typos. A smaller file's rows count towards its site and its source instead (`pool_findings`),
  so one bad row in a lab's one-sample file never stops a programme's night, while a site whose
  whole export is unreadable still does (an FCS file, one tube, always counts towards its site);
- a non-empty export that landed 0 rows and quarantined none: a layout the loader does not
  recognise (every column ignored, every cell empty);
- a mart with 0 rows although the raw tables it reflects hold rows (`MART_DRIVERS`; tubes count
  only when their patient is in marts.patients): a broken join, filter or reference seed upstream;
- a site whose patients vanished: after a new version of an export replaced the one that held
  them, more than `max_vanished_share_per_site` of the site's patients are in no current
  export (records deleted in the EDC, a changed export filter, a partial export).
- a source whose folder holds files but none it reads (raw.unrecognised_files): the exports
  were saved in another format (a spreadsheet, a text export), so nothing of the source landed.

One finding warns without blocking, loudly, on both data-quality pages and in the run's summary:
- a cytometry export whose current version quarantined rows and no longer holds tubes an earlier
  version of it held (`lost_values`): their values are out of the marts (a superseded version's
  values are never used) until the file is corrected, and a patient's peak or AUC may have
  changed. It names the tubes. (One malformed row never stops a programme's night; the file's
  quarantined share still blocks when it is over the limit.)

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
from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.ingest.failed_files import failed_files
from cartwh.ingest.load import SOURCES  # ingestion's folders: where a file's site is read from
from cartwh.settings import PROJECT_ROOT
from cartwh.warehouse.connection import quote_table
from cartwh.warehouse.schema import ensure_schema, has_table

THRESHOLDS = PROJECT_ROOT / "dbt_project" / "seeds" / "source_health_thresholds.csv"


@dataclass(frozen=True)
class Finding:
    # file_failed | quarantined_share | landed_nothing | empty_mart | vanished_patients |
    # nothing_recognised | lost_values
    check_name: str
    subject: str  # the file, mart or site
    observed: float | None
    threshold: float | None
    message: str  # names the subject and the likely cause
    blocking: bool = True  # False: reported as loudly, the night goes on


def thresholds(path: Path = THRESHOLDS) -> dict[str, float]:
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["parameter"]: float(row["value"]) for row in csv.DictReader(handle)}


def _source_tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """The raw tables each source's rows land in (the sources of cartwh.ingest.sources write these;
    a site's own REDCap project also lands in its raw.redcap_site_<site>__<form> tables)."""
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
        union = " UNION ".join(
            f"SELECT _load_id, _source_row FROM {quote_table(t)} WHERE _load_id IN ?" for t in tables
        )
        landed = dict(  # data rows, not raw rows: a statistics row lands as one raw row per value
            con.execute(
                f"SELECT _load_id, count(DISTINCT _source_row) FROM ({union}) GROUP BY 1", [ids] * len(tables)
            ).fetchall()
        )
        suspects.loc[suspects["source"] == source, "landed"] = suspects["load_id"].map(landed).fillna(0).astype(int)
    return suspects


def _top_reason(con, load_ids: list[int]) -> str:
    row = con.execute(
        """SELECT reason, column_name, count(*) AS n FROM raw.quarantine WHERE load_id IN ? AND "row" > 1
                         GROUP BY ALL ORDER BY n DESC, reason LIMIT 1""",
        [load_ids],
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
    FROM raw.quarantine WHERE load_id IN ? AND "row" > 1 GROUP BY 1 ORDER BY n DESC, cause
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


def likely_cause(con: duckdb.DuckDBPyConnection, load_ids: list[int]) -> str:
    """The most likely reason file versions lost (nearly) all their rows, from their quarantine:
    the header's ignored columns first (they explain the rows), then the commonest row reason."""
    ignored = {
        c
        for (c,) in con.execute(
            """SELECT DISTINCT column_name FROM raw.quarantine WHERE load_id IN ?
                                            AND "row" = 1 AND reason LIKE 'column not in%'""",
            [load_ids],
        ).fetchall()
    }
    causes = con.execute(_ROW_CAUSES, [load_ids]).fetchall()
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
# reported like a row, and judged with its site's other files (pool_findings), not alone.
ONE_TUBE_SOURCES = ("cytometry_fcs",)


def file_findings(con: duckdb.DuckDBPyConnection, limits: dict[str, float]) -> list[Finding]:
    limit, least = limits["max_quarantined_share"], limits["min_data_rows"]
    findings = []
    for f in _suspect_files(con).itertuples():
        if f.source in ONE_TUBE_SOURCES:  # a file is one tube: one row's fault, never the night's
            continue
        rows = f.landed + f.quarantined
        if f.quarantined and rows >= least and f.quarantined / rows > limit:  # a small file: its site's share
            findings.append(_share_finding(con, f.file, [f.load_id], rows, f.quarantined, limit))
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


# Raw tables whose rows reach the marts only through a patient the marts know: a lab's tubes of a
# site that has landed but is not mapped yet leave the cytometry marts empty, rightly.
KEYED_BY_PATIENT = {"raw.cytometry_samples"}


def mart_findings(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    built = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall()}

    def count(table: str) -> int:
        known = (
            " WHERE patient_key IN (SELECT patient_key FROM marts.patients)"
            if table in KEYED_BY_PATIENT and "patients" in built
            else ""
        )
        return con.execute(f"SELECT count(*) FROM {table}{known}").fetchall()[0][0]

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
    if not has_table(con, "raw.unrecognised_files"):
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


def failure_findings(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """A file that could not be read at all (raw.ingest_failures): nothing of it landed, while the
    source's other files and the other sources did."""
    return [
        Finding(
            "file_failed",
            file,
            None,
            None,
            f"{message}. Nothing of this file landed (the other files did). Correct the export and land it again",
        )
        for _source, file, message in failed_files(con)
    ]


# Current file versions with their data rows and quarantined rows (the ledger's own accounting),
# each with its site: the folder right below its source's folder ('' for a file at the top).
_FILE_ROWS = """
    SELECT f.load_id, f.source, f.file, f.records_read - f.records_skipped AS data_rows,
           f.rows_quarantined AS quarantined, f.rows_landed AS landed,
           CASE WHEN f.file LIKE s.folder || '/%/%' THEN split_part(f.file[length(s.folder) + 2:], '/', 1)
                ELSE '' END AS site
    FROM raw.landed_files AS f JOIN (SELECT unnest($sources) AS source, unnest($folders) AS folder) AS s USING (source)
    WHERE f.superseded_by IS NULL AND f.records_read IS NOT NULL
"""


def pool_findings(con: duckdb.DuckDBPyConnection, limits: dict[str, float]) -> list[Finding]:
    """The files too small for their own share (fewer than `min_data_rows` data rows: a lab's file
    per sample or per month) count towards their site and their source: one bad row in a one-row
    file is quarantined and reported, never a night stopped. A site (then, if none of its sites
    did, a source) breaks when those rows, `min_data_rows` or more of them, are quarantined above
    the share, or when no row of any of its files landed (a wholly unreadable site export, a
    source landing nothing), whatever its size."""
    limit, least = limits["max_quarantined_share"], limits["min_data_rows"]
    files = con.execute(_FILE_ROWS, {"sources": list(SOURCES), "folders": [s.folder for s in SOURCES.values()]}).df()
    findings = []
    for source, of_source in files.groupby("source", sort=True):
        sites = [(f"site {site} ({source})", group) for site, group in of_source.groupby("site", sort=True) if site]
        found = [f for where, group in sites if (f := _pool_finding(con, where, group, limit, least))]
        whole = None if found else _pool_finding(con, f"source {source}", of_source, limit, least)
        findings += found + ([whole] if whole else [])
    return findings


def _pool_finding(con, where: str, files: pd.DataFrame, limit: float, least: float) -> Finding | None:
    small = files[files["data_rows"] < least]
    nothing_landed = files["landed"].sum() == 0 and files["quarantined"].sum() > 0
    if nothing_landed and len(small):  # (files of real size already break on their own)
        small = files
    rows, bad = int(small["data_rows"].sum()), int(small["quarantined"].sum())
    if not (nothing_landed and len(small)) and not (rows >= least and bad / rows > limit):
        return None
    ids = [int(i) for i in small["load_id"]]
    if len(small) == 1:  # one file: named as a file of real size is
        return _share_finding(con, small["file"].iloc[0], ids, rows, bad, limit)
    what = (
        f"{where}: nothing of its {len(small)} current files landed, {bad} of their {rows} data rows quarantined"
        if nothing_landed
        else f"{where}: {bad} of the {rows} data rows of its {len(small)} small files (fewer than {least:.0f} "
        f"data rows each) quarantined ({100 * bad / rows:.0f} %, limit {100 * limit:.0f} %)"
    )
    return Finding("quarantined_share", where, bad / rows, limit, f"{what}{_reasons(con, ids)}")


def _share_finding(con, file: str, ids: list[int], rows: int, bad: int, limit: float) -> Finding:
    what = f"{file}: {bad} of its {rows} data rows quarantined ({100 * bad / rows:.0f} %, limit {100 * limit:.0f} %)"
    return Finding("quarantined_share", file, bad / rows, limit, f"{what}{_reasons(con, ids)}")


def _reasons(con, ids: list[int]) -> str:
    return f"{_top_reason(con, ids)}. Likely cause: {likely_cause(con, ids)}"


# Tubes an earlier version of a cytometry export held that no current file holds any more (the
# statistics of either route, or a manifest row), for each current version that quarantined rows.
LOST_TUBES = """
    WITH quarantining AS (
        SELECT load_id, file, source, rows_quarantined,
               CASE source WHEN 'cytometry_manifest' THEN 'manifest' ELSE 'statistics' END AS kind
        FROM raw.landed_files WHERE superseded_by IS NULL AND rows_quarantined > 0
          AND source IN ('cytometry_manifest', 'cytometry_statistics', 'cytometry_fcs')),
    earlier AS (
        SELECT q.load_id, q.kind, e.load_id AS earlier_id FROM quarantining AS q
        JOIN raw.landed_files AS e ON e.source = q.source AND e.file = q.file AND e.superseded_by IS NOT NULL),
    held AS (
        SELECT DISTINCT e.load_id, e.kind, s.tube_key
        FROM earlier AS e JOIN raw.cytometry_population_stats AS s ON s._load_id = e.earlier_id
        WHERE e.kind = 'statistics'
        UNION
        SELECT DISTINCT e.load_id, e.kind, m.tube_key
        FROM earlier AS e JOIN raw.cytometry_samples AS m ON m._load_id = e.earlier_id
        WHERE e.kind = 'manifest'),
    current_loads AS (SELECT load_id FROM raw.landed_files WHERE superseded_by IS NULL),
    still_held AS (
        SELECT 'statistics' AS kind, tube_key FROM raw.cytometry_population_stats
        WHERE _load_id IN (SELECT load_id FROM current_loads) AND tube_key IN (SELECT tube_key FROM held)
        UNION
        SELECT 'manifest', tube_key FROM raw.cytometry_samples
        WHERE _load_id IN (SELECT load_id FROM current_loads) AND tube_key IN (SELECT tube_key FROM held))
    SELECT q.load_id, q.file, q.rows_quarantined, list(h.tube_key ORDER BY h.tube_key) AS tubes,
           count(DISTINCT p.patient_key) AS patients
    FROM quarantining AS q JOIN held AS h USING (load_id)
    LEFT JOIN (SELECT DISTINCT tube_key, patient_key FROM raw.cytometry_samples) AS p USING (tube_key)
    WHERE NOT EXISTS (SELECT 1 FROM still_held AS k WHERE k.kind = h.kind AND k.tube_key = h.tube_key)
    GROUP BY q.load_id, q.file, q.rows_quarantined ORDER BY q.file
"""
TUBES_NAMED = 10


def lost_value_findings(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """A corrected re-export of a cytometry table that quarantines rows of tubes its earlier version
    held: those tubes lose their values (the superseded version's are never used), said loudly."""
    tables = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' "  # the statistics are a view
        "AND table_name IN ('cytometry_samples', 'cytometry_population_stats')"
    ).fetchall()[0][0]
    if tables < 2:
        return []  # no cytometry ingested yet
    findings = []
    for load_id, file, quarantined, tubes, patients in con.execute(LOST_TUBES).fetchall():
        named = ", ".join(tubes[:TUBES_NAMED]) + (
            f" and {len(tubes) - TUBES_NAMED} more" if len(tubes) > TUBES_NAMED else ""
        )
        findings.append(
            Finding(
                "lost_values",
                file,
                len(tubes),
                None,
                (
                    f"{file}: its current version quarantined {quarantined} row(s) and no longer holds {len(tubes)} "
                    f"tube(s) of {patients} patient(s) that an earlier version held (tube keys {named}): their values "
                    "are out of the marts (a superseded version's are not used), so those patients' kinetics, peaks "
                    f"and AUC may have changed, until the file is corrected and landed again. Likely cause: "
                    f"{likely_cause(con, [load_id])}"
                ),
                blocking=False,
            )
        )
    return findings


def source_health(con: duckdb.DuckDBPyConnection, limits: dict[str, float] | None = None) -> list[Finding]:
    """Every finding of tonight's warehouse (none: the sources are healthy)."""
    limits = limits or thresholds()
    return (
        failure_findings(con)
        + file_findings(con, limits)
        + pool_findings(con, limits)
        + mart_findings(con)
        + patient_findings(con, limits)
        + unrecognised_findings(con)
        + lost_value_findings(con)
    )


def store_findings(con: duckdb.DuckDBPyConnection, findings: list[Finding], run_id: str) -> None:
    ensure_schema(con)  # quality.source_health, declared in cartwh.warehouse.schema (idempotent)
    now = datetime.now(UTC).replace(tzinfo=None)
    for f in findings:
        con.execute(
            "INSERT INTO quality.source_health (run_id, checked_at, check_name, subject, observed, threshold, message, "
            "blocking) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, now, f.check_name, f.subject, f.observed, f.threshold, f.message, f.blocking],
        )

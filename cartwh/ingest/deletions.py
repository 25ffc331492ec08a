"""Records deleted in REDCap: `cartwh pull` reports them in landing/redcap/<site>/deleted_records_<stamp>.json
(cartwh/pull/redcap.py); this source lands each report as tombstones in raw.redcap_deleted_records
(site, patient_key, found_at, _load_id), one per record id, keyed like the records themselves.

A tombstone hides the record from the current version of every REDCap instrument (the dbt macro
`current_rows`) when it is newer than the record's newest load, compared by load id, i.e. by
the order in which files were ingested; a record re-created in REDCap later comes back with its
next pull. The rows stay in raw (nothing is deleted from the warehouse). Load order is the pull's
order when each pull is ingested before the next one, which the nightly job does (pull, then
ingest). Limit: a deletion and a re-creation of the same record pulled by hand twice before one
ingestion land in the wrong order (records before deletions) and hide the re-created record
until its next change.

The report is a file version like any other: in raw.landed_files (source `redcap_deletions`),
archived, replayed by `cartwh rebuild`. Every record id is accounted for: row 1 is the report's
header (its times), row n + 1 its n-th record id.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import duckdb

from cartwh import settings
from cartwh.ingest.csv_reader import RECORDS, SKIPPED, ExportFile
from cartwh.ingest.errors import ExportError
from cartwh.ingest.keys import RECORD_SITES, SITE_PATTERN
from cartwh.ingest.validation import PROBLEMS, reset_problems
from cartwh.ingest.warehouse import DELETED_RECORDS, insert_rows
from cartwh.pseudonym import pseudonymise, secret

TABLE = DELETED_RECORDS  # created with the raw schema (cartwh/ingest/warehouse.py)
_NAME = re.compile(r"deleted_records_\d{8}T\d{6}\.json")
_TIME = "%Y-%m-%d %H:%M:%S"


def is_deletion_report(path: Path) -> bool:
    return bool(_NAME.fullmatch(path.name))


def report_header(file: ExportFile) -> list[str]:
    """Every deletion report has the same shape: one batch reads them all."""
    return ["deleted_records"]


def _read(file: ExportFile) -> tuple[datetime | None, datetime, list]:
    try:
        report = json.loads(file.path.read_bytes().decode("utf-8"))
        ids = report["record_ids"]
        found = datetime.strptime(report["found_at"], _TIME)
        since = datetime.strptime(report["deleted_since"], _TIME) if report.get("deleted_since") else None
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise ExportError(
            file.name,
            f"not a deletion report of `cartwh pull` (JSON with found_at and record_ids): "
            f"{type(error).__name__}: {error}",
            row=1,
        ) from None
    if not isinstance(ids, list):
        raise ExportError(file.name, "record_ids is not a list", row=1, column="record_ids")
    return since, found, ids


def _site(con, key: bytes, project: str, record_id: str, seen: bool) -> str | None:
    """The site the record was first seen under in its project (its data access group), else the
    folder's site: the same site its rows were keyed with (cartwh/ingest/keys.py)."""
    known = (
        con.execute(
            f"SELECT site FROM {RECORD_SITES} WHERE record_key = ?",
            [pseudonymise(record_id, key, site=f"project:{project}")],
        ).fetchall()
        if seen
        else []
    )
    return known[0][0] if known else (project or settings.site() or "").strip().lower() or None


def load_deletions(con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> list[str]:
    """Tombstones of a batch of deletion reports; a record id that cannot be keyed is a problem."""
    key = secret()
    seen = bool(con.execute(f"SELECT 1 FROM {RECORD_SITES} LIMIT 1").fetchall())
    rows, problems, records, skipped = [], [], [], []
    for file in files:
        load_id = file.load_id
        since, found, ids = _read(file)
        records.append((load_id, len(ids) + 1))
        skipped.append((load_id, 1, "header"))
        for row, record_id in enumerate(ids, start=2):
            record_id = str(record_id).strip() if isinstance(record_id, str | int) else ""
            site = _site(con, key, file.folder or "", record_id, seen) if record_id else None
            if not record_id:
                problems.append((load_id, row, None, "record_ids", "not a record id", None))
            elif site is None or not re.fullmatch(SITE_PATTERN, site):
                problems.append(
                    (
                        load_id,
                        row,
                        None,
                        "record_ids",
                        "no site: a deletion report lands in its site's folder (redcap/<site>/)",
                        None,
                    )
                )
            else:
                rows.append((site, pseudonymise(record_id, key, site=site), since, found, load_id, row))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {RECORDS} (load_id BIGINT, records BIGINT)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SKIPPED} (load_id BIGINT, row BIGINT, why VARCHAR)")
    insert_rows(con, RECORDS, records)
    insert_rows(con, SKIPPED, skipped)
    reset_problems(con, [])
    insert_rows(con, PROBLEMS, problems)
    insert_rows(con, TABLE, rows)
    return [TABLE]

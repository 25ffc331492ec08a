"""Ingest landed exports into the DuckDB raw layer.

Every file version is one transaction: it loads whole (valid rows in, bad rows quarantined
with file, row, column and reason) or not at all. A file already loaded (same checksum) is
skipped; a new version of the same file supersedes the old one, whose rows stay in raw,
marked through raw.landed_files.superseded_by. Content that is already current (under any
path) is skipped. Each loaded version is archived by checksum.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb

from cartwh.contract.redcap import project_dictionary
from cartwh.ingest import cytometry_loader, redcap_loader
from cartwh.ingest.errors import ExportError, IngestError
from cartwh.ingest.keys import ROW_KEYS, reset_row_keys
from cartwh.ingest.validation import PROBLEMS, problem_rows
from cartwh.ingest.warehouse import LANDED_FILES, QUARANTINE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    name: str
    folder: str  # inside the landing folder
    load: Callable[..., dict[str, int]]


SOURCES = {
    "redcap": Source("redcap", "redcap",
                     lambda con, path, name, load_id: redcap_loader.load_redcap_export(
                         con, path, name, load_id, project_dictionary())),  # fmt: skip
    "cytometry_manifest": Source("cytometry_manifest", "cytometry/manifests", cytometry_loader.load_manifest),
    "cytometry_statistics": Source("cytometry_statistics", "cytometry/statistics", cytometry_loader.load_statistics),
}


@dataclass
class IngestReport:
    source: str
    files_loaded: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)
    files_superseding: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    rows_quarantined: int = 0
    failures: list[ExportError] = field(default_factory=list)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest_source(con: duckdb.DuckDBPyConnection, landing: Path, source_name: str, archive: Path,
                  raise_on_failure: bool = True) -> IngestReport:  # fmt: skip
    source = SOURCES[source_name]
    report = IngestReport(source_name)
    folder = Path(landing) / source.folder
    for path in sorted(folder.rglob("*.csv")) if folder.exists() else []:
        name = path.relative_to(landing).as_posix()
        checksum = sha256(path)
        # Skip content that is already current; a re-export reverting to older content loads again.
        known = con.execute(f"SELECT 1 FROM {LANDED_FILES} WHERE source = ? AND sha256 = ? AND superseded_by IS NULL",
                            [source_name, checksum]).fetchall()  # fmt: skip
        if known:
            report.files_skipped.append(name)
            continue
        try:
            _load_file(con, source, path, name, checksum, archive, report)
        except ExportError as error:
            log.error("ingestion of %s failed: %s", name, error)
            report.failures.append(error)
    if report.failures and raise_on_failure:
        raise IngestError(report.failures)
    return report


def _load_file(con, source: Source, path: Path, name: str, checksum: str, archive: Path, report: IngestReport):
    con.execute("BEGIN TRANSACTION")
    try:
        load_id = con.execute("SELECT nextval('raw.load_id_seq')").fetchall()[0][0]
        reset_row_keys(con)
        rows = source.load(con, path, name, load_id)
        quarantined = problem_rows(con)
        con.execute(
            f"""INSERT INTO {QUARANTINE} (load_id, file, row, column_name, reason, value, patient_key)
                SELECT {load_id}, ?, p.row, p.column_name,
                       CASE WHEN p.scope IS NULL THEN p.reason ELSE p.reason || ' [form ' || p.scope || ']' END,
                       p.value, k.patient_key
                FROM {PROBLEMS} p LEFT JOIN {ROW_KEYS} k USING (row)
                ORDER BY p.row""",
            [name],
        )
        stored = _archive(path, checksum, archive)
        previous = con.execute(f"SELECT load_id FROM {LANDED_FILES} WHERE source = ? AND file = ? AND superseded_by IS NULL",
                               [source.name, name]).fetchall()  # fmt: skip
        con.execute(
            f"INSERT INTO {LANDED_FILES} VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp, ?, NULL)",
            [load_id, source.name, name, checksum, path.stat().st_size, sum(rows.values()), quarantined, str(stored)],
        )
        if previous:
            con.execute(f"UPDATE {LANDED_FILES} SET superseded_by = ? WHERE load_id IN ({', '.join('?' * len(previous))})",
                        [load_id, *[p[0] for p in previous]])  # fmt: skip
            report.files_superseding.append(name)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    report.files_loaded.append(name)
    report.rows_quarantined += quarantined
    for table, count in rows.items():
        report.rows[table] = report.rows.get(table, 0) + count
    log.info("loaded %s: %d rows, %d quarantined", name, sum(rows.values()), quarantined)


def _archive(path: Path, checksum: str, archive: Path) -> Path:
    """Keep every ingested version by content, so a rebuild never depends on the landing folder."""
    target = Path(archive) / checksum[:2] / f"{checksum}{path.suffix}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".partial")
        shutil.copyfile(path, tmp)
        tmp.replace(target)
    return target

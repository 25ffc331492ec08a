"""Ingest landed exports into the DuckDB raw layer: one pipeline for every source. A source says
what is its own (its folder, the files it accepts, its raw tables, how a batch loads: a
cartwh.ingest.loader.Loader); SOURCES are those of cartwh.ingest.sources, in the order they are
ingested; everything else happens here, alike for all of them.

New file versions of a source are loaded in batches: files that share a header are read by one
DuckDB scan and validated by one set of queries, so a night of thousands of small exports costs
about what their bytes cost, not a fixed price per file. A batch is one transaction; if any of
its files cannot be read, the batch is rolled back and its files are loaded one by one, so each
file still loads whole (valid rows in, bad rows quarantined with file, row, column and reason)
or not at all, and the error names the file. A file already loaded (same checksum) is skipped;
a new version of the same file supersedes the old one, whose rows stay in raw, marked through
raw.landed_files.superseded_by. Content that is already current (under any path) is skipped.
Before a batch commits, every CSV record of each file is accounted for (read = landed +
quarantined + skipped), each version is archived by checksum and gets its row in raw.landed_files
(cartwh.ingest.landed_files); a file whose records do not add up fails whole.

Each landed file is read once, into memory; a new version is written from there to a private
copy in the archive's protected area. Its checksum is of those bytes, the CSV reader parses
those bytes and the archive keeps those bytes, so the ledger, the rows and the archive always
describe the same version even if the landing file is rewritten meanwhile. A file that changed
while it was read is left for the next run ("still being written").

Each loaded version is archived by checksum, and recorded in the archive's own ledger once its
transaction committed (cartwh.warehouse.archive_ledger), so the archive alone can rebuild the raw layer.

Every file in a source's folder is listed, not only the `.csv` ones: a file no source reading that
folder accepts (`Loader.accepts`) is reported as unrecognised (IngestReport, raw.unrecognised_files,
cartwh.ingest.unrecognised), never skipped without a word. Hidden files (a name starting with `.`,
in any folder of the path: editors' swap files, the pull's temporary `.<name>.partial` files) are
not listed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from cartwh.contract.cytometry import lab_names
from cartwh.contract.redcap_dictionary import MetadataError
from cartwh.ingest import dialects, known_records
from cartwh.ingest.csv_reader import BATCH, ExportFile
from cartwh.ingest.errors import ExportError, IngestError
from cartwh.ingest.failed_files import record_failures
from cartwh.ingest.keys import ROW_KEYS, check_pseudonym_key, reset_row_keys
from cartwh.ingest.landed_files import account_for_records, record_landed, rows_loaded
from cartwh.ingest.loader import Loader
from cartwh.ingest.record_map import remember_batch
from cartwh.ingest.sources import SOURCES
from cartwh.ingest.unrecognised import record_unrecognised, unrecognised
from cartwh.ingest.validation import PROBLEMS
from cartwh.ingest.warehouse import LANDED_FILES, QUARANTINE, RawTable, confine, insert_rows, transaction
from cartwh.synthetic import record_origin
from cartwh.warehouse.archive_ledger import ArchiveLedger
from cartwh.warehouse.schema import ensure_schema
from cartwh.warehouse.unrecognised_files import Unrecognised

log = logging.getLogger(__name__)


# A batch is bounded in bytes so that memory stays flat however much lands in one night.
BATCH_BYTES = 64 * 1024 * 1024


@dataclass
class IngestReport:
    source: str
    files_loaded: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)
    files_superseding: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    rows_quarantined: int = 0
    records_read: int = 0  # with rows_landed, rows_quarantined and records_skipped: raw.landed_files' accounting
    rows_landed: int = 0
    records_skipped: int = 0
    failures: list[ExportError] = field(default_factory=list)
    files_still_being_written: list[str] = field(default_factory=list)  # changed while read: next run
    files_unrecognised: list[Unrecognised] = field(default_factory=list)  # in its folder, read by no source


def merged(reports: list[IngestReport]) -> IngestReport:
    """Several sources' reports as one (sources that write the same raw tables)."""
    total = IngestReport("+".join(r.source for r in reports))
    for report in reports:
        for name, value in vars(report).items():
            if name == "rows":
                for table, count in value.items():
                    total.rows[table] = total.rows.get(table, 0) + count
            elif name != "source":
                setattr(total, name, getattr(total, name) + value)
    return total


class StillBeingWritten(Exception):
    """The landed file changed (size, mtime or inode) while it was read."""


def _identity(path: Path) -> tuple[int, int, int, int]:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def read_once(path: Path) -> bytes:
    """The file's bytes, read once into memory (an export is megabytes, not gigabytes). Raises
    StillBeingWritten if the file changed during the read (a replaced file has a new inode)."""
    before = _identity(path)
    with open(path, "rb") as handle:
        content = handle.read()
    if _identity(path) != before or len(content) != before[2]:
        raise StillBeingWritten(path)
    return content


def ingest_source(
    con: duckdb.DuckDBPyConnection, landing: Path, source_name: str, archive: Path, raise_on_failure: bool = True
) -> IngestReport:
    source = SOURCES[source_name]
    report = IngestReport(source_name)
    # What an export says reaches SQL only quoted; and whatever a statement would do, it can touch
    # no file but the warehouse and the archive (cartwh.warehouse.connection.confine).
    confine(con, folders=[archive])
    con.execute("SET VARIABLE archive = ?", [str(Path(archive).absolute())])  # cartwh.ingest.identifiers.ARCHIVED_PATH
    ensure_schema(con)  # the raw bookkeeping tables (a connection not opened by connect() included)
    check_pseudonym_key(con)  # raises PseudonymKeyError before anything is read or written
    record_origin(con, Path(landing), Path(archive))  # raises SyntheticBesideReal, likewise
    source.create_tables(con)
    ledger = ArchiveLedger(archive)
    ledger.sync(con)  # versions a stopped run committed but could not write to the archive's ledger
    # The private copies hold identifiers like the landing folder: they live in the archive's
    # protected area and are removed when the source is done.
    Path(archive).mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix=".reading-", dir=archive) as private,
        known_records.attached(con, Path(archive)),
    ):
        for batch in _batches(_new_files(con, Path(landing), source, report, Path(private)), source, report):
            _load(con, source, batch, archive, report)
            ledger.sync(con)  # the versions this batch committed, durably, before the next batch
    record_unrecognised(con, source.name, report.files_unrecognised)
    record_failures(con, source.name, report.failures)
    if report.failures and raise_on_failure:
        raise IngestError(report.failures)
    return report


def _new_files(con, landing: Path, source: Loader, report: IngestReport, private: Path) -> list[ExportFile]:
    """The source's files whose content is not already current, each read once and written to a
    private copy in `private` (named by its position, never by the landed name), which DuckDB and
    the archive read; the others are skipped."""
    # A re-export reverting to older (superseded) content loads again.
    current = {
        row[0]
        for row in con.execute(
            f"SELECT sha256 FROM {LANDED_FILES} WHERE source = ? AND superseded_by IS NULL", [source.name]
        ).fetchall()
    }
    folder = landing / source.folder
    new = []
    contexts: dict[Path, object] = {}
    for number, path in enumerate(_listed(landing, source, report)):
        name = path.relative_to(landing).as_posix()
        name = source.ledger_name(name)
        if source.is_metadata(path):
            continue
        context = _context(source, path.parent, landing, contexts)
        if isinstance(context, MetadataError):
            _failed(report, ExportError(name, f"not loaded: its project's metadata cannot be used: {context}"))
            continue
        try:
            content = read_once(path)
        except StillBeingWritten:
            log.warning("%s is still being written (it changed while it was read): left for the next run", name)
            report.files_still_being_written.append(name)
            continue
        except OSError as error:  # gone or unreadable since it was listed
            _failed(report, ExportError(name, f"cannot be read: {error.strerror}"))
            continue
        checksum = hashlib.sha256(content).hexdigest()
        if checksum in current:
            report.files_skipped.append(name)
            continue
        below = path.relative_to(folder).parts
        site_folder = below[0] if len(below) > 1 else None
        try:  # a lab's export: its dialect, detected once (cartwh.ingest.dialects)
            dialect = (
                dialects.detect(content, name, dialects.declared_for(site_folder))[0] if source.lab_export else None
            )
        except ExportError as error:
            _failed(report, error)
            continue
        current.add(checksum)  # the same content twice in one night loads once
        copy = private / f"{number}{path.suffix.lower()}"  # the archive keeps the kind of file
        copy.write_bytes(content)
        new.append(
            ExportFile(
                copy,
                name,
                checksum,
                len(content),
                folder=site_folder,
                lab_export=source.lab_export,
                context=context,
                dialect=dialect,
            )
        )
    return new


def _context(source: Loader, folder: Path, landing: Path, known: dict[Path, object]) -> object:
    """What `folder`'s files are read with, read once per run (a MetadataError is kept, not raised)."""
    if folder not in known:
        try:
            known[folder] = source.read_context(folder, folder.relative_to(landing).as_posix(), folder.name)
        except MetadataError as error:
            known[folder] = error
    return known[folder]


def listed(landing: Path, source: Loader) -> tuple[list[Path], list[Path]]:
    """The one rule of what a source reads, used by ingestion, `cartwh run` and the landing sensor
    alike: (the files of its folder it accepts, the files it reports as unrecognised: those no
    source whose folder holds them accepts), in name order, hidden files left out."""
    folder = Path(landing) / source.folder
    mine, others = [], []
    for path in sorted(folder.rglob("*")) if folder.exists() else []:
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if source.accepts(path):
            mine.append(path)
        elif _reports_unrecognised(source, path, Path(landing)):
            others.append(path)
    return mine, others


def _listed(landing: Path, source: Loader, report: IngestReport) -> list[Path]:
    mine, others = listed(landing, source)
    for path in others:
        report.files_unrecognised.append(unrecognised(path, landing, source.unused(path)))
        log.warning("%s is not a recognised export of %s: not read", path.relative_to(landing).as_posix(), source.name)
    return mine


def _reports_unrecognised(source: Loader, path: Path, landing: Path) -> bool:
    """A file no source whose folder holds it accepts, reported by the first of those (once)."""
    holding = [s for s in SOURCES.values() if path.is_relative_to(landing / s.folder)]
    return not any(s.accepts(path) for s in holding) and holding[0] is source


def _batches(files: list[ExportFile], source: Loader, report: IngestReport) -> list[list[ExportFile]]:
    """Files grouped by header (one scan reads them all), in landing order, at most BATCH_BYTES
    each. A file whose header cannot be read fails here, alone. Labs' exports share a batch when
    they are written alike and no lab names its columns its own way (cytometry_lab_columns), so
    the sites of a registry are read together."""
    groups: dict[tuple, list[list[ExportFile]]] = {}
    names: dict[str | None, object] = {}
    for file in files:
        try:
            header = tuple(source.header(file))
        except ExportError as error:
            _failed(report, error)
            continue
        if file.lab_export:
            header = (_lab(file.folder, names), file.dialect, *header)
        chunks = groups.setdefault((header, getattr(file.context, "sha256", "")), [[]])  # one project per batch
        if chunks[-1] and sum(f.bytes for f in chunks[-1]) + file.bytes > BATCH_BYTES:
            chunks.append([])
        chunks[-1].append(file)
    return [chunk for chunks in groups.values() for chunk in chunks]


def _lab(folder: str | None, known: dict[str | None, object]) -> object:
    """What sets a lab's exports apart from another's: its own names for columns and gates (none:
    read like any other lab's), or its folder when its names cannot be read (it fails alone)."""
    if folder not in known:
        try:
            known[folder] = tuple(sorted(lab_names(folder).items()))
        except ValueError:
            known[folder] = ("lab", folder)
    return known[folder]


def _load(con, source: Loader, files: list[ExportFile], archive: Path, report: IngestReport) -> None:
    try:
        _load_batch(con, source, files, archive, report)
    except ExportError as error:
        if len(files) == 1:
            _failed(report, error)
        else:  # find the file at fault: the others load
            for file in files:
                _load(con, source, [file], archive, report)


def _failed(report: IngestReport, error: ExportError) -> None:
    log.error("ingestion of %s failed: %s", error.file, error)
    report.failures.append(error)


def _load_batch(con, source: Loader, files: list[ExportFile], archive: Path, report: IngestReport) -> None:
    with transaction(con):
        ids = sorted(
            r[0] for r in con.execute("SELECT nextval('raw.load_id_seq') FROM range(?)", [len(files)]).fetchall()
        )
        files = [replace(f, load_id=i) for f, i in zip(files, ids, strict=True)]
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {BATCH} (load_id BIGINT, path VARCHAR, file VARCHAR, checksum VARCHAR)"
        )
        insert_rows(con, BATCH, [(f.load_id, str(f.path), f.name, f.checksum) for f in files])
        reset_row_keys(con)
        tables = [t if isinstance(t, RawTable) else RawTable(t) for t in source.load(con, files)]
        con.execute(
            f"""INSERT INTO {QUARANTINE} (load_id, file, row, column_name, reason, value, patient_key)
                SELECT p.load_id, b.file, p.row, p.column_name,
                       CASE WHEN p.scope IS NULL THEN p.reason ELSE p.reason || ' [form ' || p.scope || ']' END,
                       p.value, k.patient_key
                FROM {PROBLEMS} p JOIN {BATCH} b USING (load_id) LEFT JOIN {ROW_KEYS} k USING (load_id, row)
                ORDER BY p.load_id, p.row"""
        )
        remember_batch(con, files, archive)  # pseudonym -> record id, in the restricted area only
        accounts = account_for_records(con, tables, files)
        quarantined = {i: a.quarantined for i, a in accounts.items()}
        rows = rows_loaded(con, tables, ids)
        superseding = record_landed(con, source.name, files, rows, accounts, archive)
        for f in files:  # before the batch commits, like its versions' own copies
            source.archive_context(f, archive)
    source.remember(con, files)
    for f in files:
        report.files_loaded.append(f.name)
        for table, count in rows[f.load_id].items():
            report.rows[table] = report.rows.get(table, 0) + count
        log.info(
            "loaded %s: %d rows, %d quarantined", f.name, sum(rows[f.load_id].values()), quarantined.get(f.load_id, 0)
        )
    report.files_superseding += superseding
    report.rows_quarantined += sum(quarantined.values())
    report.records_read += sum(a.read for a in accounts.values())
    report.rows_landed += sum(a.landed for a in accounts.values())
    report.records_skipped += sum(a.skipped for a in accounts.values())

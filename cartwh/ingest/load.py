"""Ingest landed exports into the DuckDB raw layer.

New file versions of a source are loaded in batches: files that share a header are read by one
DuckDB scan and validated by one set of queries, so a night of thousands of small exports costs
about what their bytes cost, not a fixed price per file. A batch is one transaction; if any of
its files cannot be read, the batch is rolled back and its files are loaded one by one, so each
file still loads whole (valid rows in, bad rows quarantined with file, row, column and reason)
or not at all, and the error names the file. A file already loaded (same checksum) is skipped;
a new version of the same file supersedes the old one, whose rows stay in raw, marked through
raw.landed_files.superseded_by. Content that is already current (under any path) is skipped.
Each loaded version is archived by checksum. Before a batch commits, every CSV record of each
file is accounted for (read = landed + quarantined + skipped, see `_accounts`); a file whose
records do not add up fails whole.

Each landed file is read once, into memory; a new version is written from there to a private
copy in the archive's protected area. Its checksum is of those bytes, the CSV reader parses
those bytes and the archive keeps those bytes, so the ledger, the rows and the archive always
describe the same version even if the landing file is rewritten meanwhile. A file that changed
while it was read is left for the next run ("still being written").

Each loaded version is archived by checksum, and recorded in the archive's own ledger once its
transaction committed (cartwh.warehouse.archive_ledger), so the archive alone can rebuild the raw layer.

Every file in a source's folder is listed, not only the `.csv` ones: a file no source reading that
folder accepts (`Source.accepts`) is reported as unrecognised (IngestReport, raw.unrecognised_files,
cartwh.ingest.unrecognised), never skipped without a word. Hidden files (a name starting with `.`,
in any folder of the path: editors' swap files, the pull's temporary `.<name>.partial` files) are
not listed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from cartwh.contract.cytometry import lab_names
from cartwh.contract.redcap_dictionary import MetadataError, project_dictionary
from cartwh.contract.redcap_site import is_metadata, is_record_export, read_site_project, unused_kind
from cartwh.ingest import (
    cytometry_loader,
    deletions,
    dialects,
    fcs_loader,
    known_records,
    redcap_loader,
    redcap_versions,
)
from cartwh.ingest.csv_reader import BATCH, RECORDS, SKIPPED, ExportFile, file_header
from cartwh.ingest.errors import ExportError, IngestError
from cartwh.ingest.failed_files import record_failures
from cartwh.ingest.keys import ROW_KEYS, check_pseudonym_key, reset_row_keys
from cartwh.ingest.record_map import remember_batch
from cartwh.ingest.record_shapes import record_header
from cartwh.ingest.unrecognised import is_csv, record_unrecognised, unrecognised
from cartwh.ingest.validation import PROBLEMS
from cartwh.ingest.warehouse import (
    LANDED_FILES,
    QUARANTINE,
    RawTable,
    confine,
    insert_rows,
    quote_table,
    transaction,
)
from cartwh.synthetic import record_origin
from cartwh.warehouse.archive_ledger import ArchiveLedger
from cartwh.warehouse.schema import ensure_schema
from cartwh.warehouse.unrecognised_files import Unrecognised

log = logging.getLogger(__name__)


# A batch is bounded in bytes so that memory stays flat however much lands in one night.
BATCH_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Source:
    name: str
    folder: str  # inside the landing folder
    # -> the raw tables written (a name, or a RawTable when they are not one row per record)
    load: Callable[[duckdb.DuckDBPyConnection, list[ExportFile]], list[str | RawTable]]
    # Its raw tables, created empty before anything lands, so checks and dbt run on a cohort
    # without this source (a new site, a retrospective cohort without cytometry yet).
    create_tables: Callable[[duckdb.DuckDBPyConnection], None]
    # Which files of its folder are its exports (the others are reported as unrecognised), and
    # whether they are a lab's exports, read in their detected dialect (csv_reader, lab_export).
    accepts: Callable[[Path], bool] = is_csv
    lab_export: bool = False
    # A file's header: files with the same header are read as one batch.
    header: Callable[[ExportFile], list[str]] = file_header
    # Files of the folder that describe the exports rather than hold records (REDCap's dictionary,
    # events, mapping): read with the exports of their folder, never loaded as records.
    is_metadata: Callable[[Path], bool] = lambda path: False
    # (folder, its name in the landing, site) -> what the folder's exports are read with
    # (ExportFile.context); raises MetadataError, and then none of the folder's files loads.
    read_context: Callable[[Path, str, str], object] | None = None
    # What a file of its folder is when the source knows it but does not use it (reported, not read).
    unused: Callable[[Path], str | None] = lambda path: None
    # (file, archive): archive what a version was read with; (archive, sha256, landing): put it
    # back beside the version when `cartwh rebuild` replays it.
    archive_context: Callable[[ExportFile, Path], None] | None = None
    restore_context: Callable[[Path, str, Path], None] | None = None
    # The name a file version is known by in the warehouse, its ledger and the logs, from its name
    # in the landing (FCS files are named after the patient: their name is replaced by the tube's
    # key; the loader finds the landed name through read_context, the archive keeps it).
    ledger_name: Callable[[str], str] | None = None
    # (connection, files) after a batch committed: what later batches and nights need to know of
    # it (cartwh.ingest.known_records), from the batch's temp tables.
    remember: Callable[[duckdb.DuckDBPyConnection, list[ExportFile]], None] | None = None


SOURCES = {
    "redcap": Source(
        "redcap",
        "redcap",
        redcap_loader.load_redcap_export,
        lambda con: redcap_loader.create_form_tables(con, project_dictionary()),
        header=record_header,
        accepts=lambda path: (is_csv(path) or is_metadata(path)) and not unused_kind(path),
        is_metadata=lambda path: is_metadata(path) and not is_record_export(path),
        unused=unused_kind,
        read_context=read_site_project,
        archive_context=redcap_versions.archive_project,
        restore_context=redcap_versions.restore_project,
        remember=known_records.remember_needles,
    ),
    "cytometry_manifest": Source(
        "cytometry_manifest",
        "cytometry/manifests",
        cytometry_loader.load_manifest,
        cytometry_loader.create_manifest_table,
        remember=known_records.remember_tube_records,
    ),
    "cytometry_statistics": Source(
        "cytometry_statistics",
        "cytometry/statistics",
        cytometry_loader.load_statistics,
        cytometry_loader.create_statistics_table,
        accepts=cytometry_loader.is_statistics_file,
        lab_export=True,
    ),
    # After the manifests: a tube's panel chooses its gating template, its record the identifiers
    # its keywords are checked against (cartwh/ingest/fcs_loader.py).
    "cytometry_fcs": Source(
        "cytometry_fcs",
        fcs_loader.FOLDER,
        fcs_loader.load_fcs,
        fcs_loader.create_tables,
        accepts=lambda path: fcs_loader.is_fcs(path) or fcs_loader.is_workspace(path),
        header=lambda file: ["FCS"],  # one batch per folder gating (below), whatever the channels
        is_metadata=fcs_loader.is_workspace,
        read_context=fcs_loader.read_folder_gating,
        archive_context=fcs_loader.archive_landed,
        restore_context=fcs_loader.restore_landed,
        ledger_name=fcs_loader.ledger_name,
    ),
    # After the records: a deletion hides what was loaded before it (cartwh/ingest/deletions.py).
    "redcap_deletions": Source(
        "redcap_deletions",
        "redcap",
        deletions.load_deletions,
        ensure_schema,  # its table, raw.redcap_deleted_records, is declared there
        accepts=deletions.is_deletion_report,
        header=deletions.report_header,
    ),
}


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


def _new_files(con, landing: Path, source: Source, report: IngestReport, private: Path) -> list[ExportFile]:
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
        name = source.ledger_name(name) if source.ledger_name else name
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


def _context(source: Source, folder: Path, landing: Path, known: dict[Path, object]) -> object:
    """What `folder`'s files are read with, read once per run (a MetadataError is kept, not raised)."""
    if source.read_context is None:
        return None
    if folder not in known:
        try:
            known[folder] = source.read_context(folder, folder.relative_to(landing).as_posix(), folder.name)
        except MetadataError as error:
            known[folder] = error
    return known[folder]


def listed(landing: Path, source: Source) -> tuple[list[Path], list[Path]]:
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


def _listed(landing: Path, source: Source, report: IngestReport) -> list[Path]:
    mine, others = listed(landing, source)
    for path in others:
        report.files_unrecognised.append(unrecognised(path, landing, source.unused(path)))
        log.warning("%s is not a recognised export of %s: not read", path.relative_to(landing).as_posix(), source.name)
    return mine


def _reports_unrecognised(source: Source, path: Path, landing: Path) -> bool:
    """A file no source whose folder holds it accepts, reported by the first of those (once)."""
    holding = [s for s in SOURCES.values() if path.is_relative_to(landing / s.folder)]
    return not any(s.accepts(path) for s in holding) and holding[0] is source


def _batches(files: list[ExportFile], source: Source, report: IngestReport) -> list[list[ExportFile]]:
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


def _load(con, source: Source, files: list[ExportFile], archive: Path, report: IngestReport) -> None:
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


def _load_batch(con, source: Source, files: list[ExportFile], archive: Path, report: IngestReport) -> None:
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
        accounts = _accounts(con, tables, files)
        quarantined = {i: a.quarantined for i, a in accounts.items()}
        rows = _rows_loaded(con, tables, ids)
        superseding = [
            r[0]
            for r in con.execute(
                f"""UPDATE {LANDED_FILES} l SET superseded_by = b.load_id FROM {BATCH} b
                WHERE l.source = ? AND l.file = b.file AND l.superseded_by IS NULL RETURNING l.file""",
                [source.name],
            ).fetchall()
        ]
        ledger = [
            (
                f.load_id,
                source.name,
                f.name,
                f.checksum,
                f.bytes,
                sum(rows[f.load_id].values()),
                quarantined[f.load_id],
                str(_archive(f.path, f.checksum, archive)),
                accounts[f.load_id].read,
                accounts[f.load_id].landed,
                accounts[f.load_id].skipped,
            )
            for f in files
        ]
        columns = (
            "load_id, source, file, sha256, bytes, rows_loaded, rows_quarantined, archive_path, "
            "records_read, rows_landed, records_skipped"
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE _ledger AS SELECT {columns} FROM {LANDED_FILES} LIMIT 0")
        insert_rows(con, "_ledger", ledger)
        for f in files if source.archive_context else []:
            source.archive_context(f, archive)
        con.execute(f"INSERT INTO {LANDED_FILES} ({columns}, loaded_at) SELECT *, current_timestamp FROM _ledger")
    if source.remember:
        source.remember(con, files)
    for f in files:
        report.files_loaded.append(f.name)
        for table, count in rows[f.load_id].items():
            report.rows[table] = report.rows.get(table, 0) + count
        log.info(
            "loaded %s: %d rows, %d quarantined", f.name, sum(rows[f.load_id].values()), quarantined.get(f.load_id, 0)
        )
    report.files_superseding += sorted(set(superseding))
    report.rows_quarantined += sum(quarantined.values())
    report.records_read += sum(a.read for a in accounts.values())
    report.rows_landed += sum(a.landed for a in accounts.values())
    report.records_skipped += sum(a.skipped for a in accounts.values())


@dataclass(frozen=True)
class Account:
    """Where each CSV record of one file version went. A data row is *landed* when it is in a raw
    table and has no problem; *quarantined* when it has at least one problem (a REDCap row set
    aside for one form may still have landed in the others: it counts here, once); *skipped*
    when it is not data (the header, blank records, summary rows, REDCap record rows without
    form data)."""

    read: int
    landed: int
    quarantined: int
    skipped: int


def _accounts(con, tables: list[RawTable], files: list[ExportFile]) -> dict[int, Account]:
    """Count where each file's records went, each from where it went (raw tables, PROBLEMS,
    SKIPPED), never by difference, so a lost row or a row number used twice shows as an
    imbalance; fail a file whole when read != landed + quarantined + skipped."""
    first = min(f.load_id for f in files)  # a batch's load ids are the newest
    in_raw = " UNION ".join(
        f"SELECT DISTINCT _load_id AS load_id, _source_row AS row FROM {quote_table(t.table)} WHERE _load_id >= $first"
        for t in tables
    )
    counted = con.execute(
        f"""WITH raw_rows AS ({in_raw or "SELECT NULL::BIGINT AS load_id, NULL::BIGINT AS row WHERE FALSE"}),
                 problem_rows AS (SELECT DISTINCT load_id, row FROM {PROBLEMS} WHERE row > 1),
                 skipped_rows AS (SELECT DISTINCT load_id, row FROM {SKIPPED}),
                 landed AS (SELECT * FROM raw_rows EXCEPT SELECT * FROM problem_rows),
                 anywhere AS (SELECT * FROM raw_rows UNION SELECT * FROM problem_rows UNION SELECT * FROM skipped_rows),
                 per_file AS (SELECT load_id, 'landed' AS kind, count(*) AS n FROM landed GROUP BY 1
                              UNION ALL SELECT load_id, 'quarantined', count(*) FROM problem_rows GROUP BY 1
                              UNION ALL SELECT load_id, 'skipped', count(*) FROM skipped_rows GROUP BY 1
                              UNION ALL SELECT a.load_id, 'accounted', count(*) FROM anywhere a
                                        JOIN {RECORDS} r ON r.load_id = a.load_id AND a.row BETWEEN 1 AND r.records
                                        GROUP BY 1)
            SELECT r.load_id, r.records, p.kind, p.n FROM {RECORDS} r LEFT JOIN per_file p USING (load_id)""",
        {"first": first},
    ).fetchall()
    tally: dict[int, dict[str, int]] = {}
    for load_id, records, kind, n in counted:
        tally.setdefault(load_id, {"read": records})[kind or "read"] = n if kind else records
    accounts = {}
    for file in files:
        t = tally.get(file.load_id, {})
        read, landed, quarantined, skipped = (t.get(k, 0) for k in ("read", "landed", "quarantined", "skipped"))
        unaccounted = read - t.get("accounted", 0)
        if unaccounted or landed + quarantined + skipped != read:
            raise ExportError(
                file.name,
                f"records do not add up, nothing loaded: {read} read, but {landed} landed "
                f"+ {quarantined} quarantined + {skipped} skipped ({unaccounted} in none of them)",
            )
        accounts[file.load_id] = Account(read, landed, quarantined, skipped)
    return accounts


def _rows_loaded(con, tables: list[RawTable], load_ids: list[int]) -> dict[int, dict[str, int]]:
    """Rows each file of the batch added to each raw table (load ids of a batch are the newest)."""
    rows = {load_id: dict.fromkeys((t.name for t in tables), 0) for load_id in load_ids}
    for table in tables:
        for load_id, count in con.execute(
            f"SELECT _load_id, sum({table.rows}) FROM {quote_table(table.table)} WHERE _load_id >= ? GROUP BY 1",
            [load_ids[0]],
        ).fetchall():
            rows[load_id][table.name] = int(count)
    return rows


def _archive(path: Path, checksum: str, archive: Path) -> Path:
    """Keep every ingested version by content, so a rebuild never depends on the landing folder.
    `path` is the private copy: the bytes that were checksummed and parsed."""
    target = Path(archive) / checksum[:2] / f"{checksum}{path.suffix}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".partial")
        shutil.copyfile(path, tmp)
        tmp.replace(target)
    return target

"""The sources ingestion reads, each whole in one place: its folder, the files it accepts and the
loader of cartwh.ingest that reads them (what a source can say: cartwh.ingest.loader.Loader). A new
source is a new class here and its place in SOURCES.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from cartwh.contract import redcap_site
from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.ingest import cytometry_loader, deletions, fcs_loader, known_records, redcap_loader, redcap_versions
from cartwh.ingest.csv_reader import ExportFile
from cartwh.ingest.loader import Loader
from cartwh.ingest.record_shapes import record_header
from cartwh.ingest.unrecognised import is_csv
from cartwh.ingest.warehouse import RawTable
from cartwh.warehouse.schema import ensure_schema


class Redcap(Loader):
    """REDCap record exports, each read with its site's project (dictionary, events, mapping)."""

    name = "redcap"
    folder = "redcap"

    def load(self, con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> list[str | RawTable]:
        return redcap_loader.load_redcap_export(con, files)

    def create_tables(self, con: duckdb.DuckDBPyConnection) -> None:
        redcap_loader.create_form_tables(con, project_dictionary())

    def accepts(self, path: Path) -> bool:
        return (is_csv(path) or redcap_site.is_metadata(path)) and not redcap_site.unused_kind(path)

    def header(self, file: ExportFile) -> list[str]:
        return record_header(file)

    def is_metadata(self, path: Path) -> bool:
        return redcap_site.is_metadata(path) and not redcap_site.is_record_export(path)

    def read_context(self, folder: Path, landed_folder: str, site: str) -> redcap_site.SiteProject:
        return redcap_site.read_site_project(folder, landed_folder, site)

    def unused(self, path: Path) -> str | None:
        return redcap_site.unused_kind(path)

    def archive_context(self, file: ExportFile, archive: Path) -> None:
        redcap_versions.archive_project(file, archive)

    def restore_context(self, archive: Path, sha256: str, landing: Path) -> None:
        redcap_versions.restore_project(archive, sha256, landing)

    def remember(self, con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> None:
        known_records.remember_needles(con, files)


class CytometryManifest(Loader):
    """The lab's manifests: one row per tube, naming its FCS file and its patient's record."""

    name = "cytometry_manifest"
    folder = "cytometry/manifests"

    def load(self, con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> list[str | RawTable]:
        return cytometry_loader.load_manifest(con, files)

    def create_tables(self, con: duckdb.DuckDBPyConnection) -> None:
        cytometry_loader.create_manifest_table(con)

    def remember(self, con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> None:
        known_records.remember_tube_records(con, files)


class CytometryStatistics(Loader):
    """The labs' population statistics, each lab's export read in its own dialect."""

    name = "cytometry_statistics"
    folder = "cytometry/statistics"
    lab_export = True

    def load(self, con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> list[str | RawTable]:
        return cytometry_loader.load_statistics(con, files)

    def create_tables(self, con: duckdb.DuckDBPyConnection) -> None:
        cytometry_loader.create_statistics_table(con)

    def accepts(self, path: Path) -> bool:
        return cytometry_loader.is_statistics_file(path)


class CytometryFcs(Loader):
    """FCS files, gated with their folder's FlowJo workspace or their panel's template; in the
    ledger under their tube's key, never under their landed name (it names the patient)."""

    name = "cytometry_fcs"
    folder = fcs_loader.FOLDER

    def load(self, con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> list[str | RawTable]:
        return fcs_loader.load_fcs(con, files)

    def create_tables(self, con: duckdb.DuckDBPyConnection) -> None:
        fcs_loader.create_tables(con)

    def accepts(self, path: Path) -> bool:
        return fcs_loader.is_fcs(path) or fcs_loader.is_workspace(path)

    def header(self, file: ExportFile) -> list[str]:
        return ["FCS"]  # one batch per folder gating (read_context), whatever the channels

    def is_metadata(self, path: Path) -> bool:
        return fcs_loader.is_workspace(path)

    def read_context(self, folder: Path, landed_folder: str, site: str) -> fcs_loader.FolderGating:
        return fcs_loader.read_folder_gating(folder, landed_folder, site)

    def archive_context(self, file: ExportFile, archive: Path) -> None:
        fcs_loader.archive_landed(file, archive)

    def restore_context(self, archive: Path, sha256: str, landing: Path) -> None:
        fcs_loader.restore_landed(archive, sha256, landing)

    def ledger_name(self, landed: str) -> str:
        # the loader finds the landed name through read_context, the archive keeps it (archive_context)
        return fcs_loader.ledger_name(landed)


class RedcapDeletions(Loader):
    """`cartwh pull`'s reports of the records deleted in REDCap, landed beside the record exports."""

    name = "redcap_deletions"
    folder = "redcap"

    def load(self, con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> list[str | RawTable]:
        return deletions.load_deletions(con, files)

    def create_tables(self, con: duckdb.DuckDBPyConnection) -> None:
        ensure_schema(con)  # its table, raw.redcap_deleted_records, is declared there

    def accepts(self, path: Path) -> bool:
        return deletions.is_deletion_report(path)

    def header(self, file: ExportFile) -> list[str]:
        return deletions.report_header(file)


# name -> source, in the order they are ingested.
SOURCES: dict[str, Loader] = {
    source.name: source
    for source in (
        Redcap(),
        CytometryManifest(),
        CytometryStatistics(),
        # After the manifests: a tube's panel chooses its gating template, its record the identifiers
        # its keywords are checked against (cartwh/ingest/fcs_loader.py).
        CytometryFcs(),
        # After the records: a deletion hides what was loaded before it (cartwh/ingest/deletions.py).
        RedcapDeletions(),
    )
}

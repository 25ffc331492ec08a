"""The sources ingestion reads, each whole in one place: its folder, the files it accepts and the
loader of cartwh.ingest that reads them (what a source can say: cartwh.ingest.loader.Loader). A new
source is a new class here and its place in SOURCES. Where a source's step is a function of its
loader module as it stands, the class names that function (`staticmethod`); the Loader says what
each step is given and returns.
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
from cartwh.warehouse.schema import ensure_schema


class Redcap(Loader):
    """REDCap record exports, each read with its site's project (dictionary, events, mapping)."""

    name = "redcap"
    folder = "redcap"
    load = staticmethod(redcap_loader.load_redcap_export)
    header = staticmethod(record_header)
    read_context = staticmethod(redcap_site.read_site_project)
    unused = staticmethod(redcap_site.unused_kind)
    archive_context = staticmethod(redcap_versions.archive_project)
    restore_context = staticmethod(redcap_versions.restore_project)
    remember = staticmethod(known_records.remember_needles)

    def create_tables(self, con: duckdb.DuckDBPyConnection) -> None:
        redcap_loader.create_form_tables(con, project_dictionary())

    def accepts(self, path: Path) -> bool:
        return (is_csv(path) or redcap_site.is_metadata(path)) and not redcap_site.unused_kind(path)

    def is_metadata(self, path: Path) -> bool:
        return redcap_site.is_metadata(path) and not redcap_site.is_record_export(path)


class CytometryManifest(Loader):
    """The lab's manifests: one row per tube, naming its FCS file and its patient's record."""

    name = "cytometry_manifest"
    folder = "cytometry/manifests"
    load = staticmethod(cytometry_loader.load_manifest)
    create_tables = staticmethod(cytometry_loader.create_manifest_table)
    remember = staticmethod(known_records.remember_tube_records)


class CytometryStatistics(Loader):
    """The labs' population statistics, each lab's export read in its own dialect."""

    name = "cytometry_statistics"
    folder = "cytometry/statistics"
    lab_export = True
    load = staticmethod(cytometry_loader.load_statistics)
    create_tables = staticmethod(cytometry_loader.create_statistics_table)
    accepts = staticmethod(cytometry_loader.is_statistics_file)


class CytometryFcs(Loader):
    """FCS files, gated with their folder's FlowJo workspace or their panel's template; in the
    ledger under their tube's key, never under their landed name (it names the patient: the loader
    finds it through read_context, the archive keeps it through archive_context)."""

    name = "cytometry_fcs"
    folder = fcs_loader.FOLDER
    load = staticmethod(fcs_loader.load_fcs)
    create_tables = staticmethod(fcs_loader.create_tables)
    is_metadata = staticmethod(fcs_loader.is_workspace)
    read_context = staticmethod(fcs_loader.read_folder_gating)
    archive_context = staticmethod(fcs_loader.archive_landed)
    restore_context = staticmethod(fcs_loader.restore_landed)
    ledger_name = staticmethod(fcs_loader.ledger_name)

    def accepts(self, path: Path) -> bool:
        return fcs_loader.is_fcs(path) or fcs_loader.is_workspace(path)

    def header(self, file: ExportFile) -> list[str]:
        return ["FCS"]  # one batch per folder gating (read_context), whatever the channels


class RedcapDeletions(Loader):
    """`cartwh pull`'s reports of the records deleted in REDCap, landed beside the record exports."""

    name = "redcap_deletions"
    folder = "redcap"
    load = staticmethod(deletions.load_deletions)
    create_tables = staticmethod(ensure_schema)  # its table, raw.redcap_deleted_records, is declared there
    accepts = staticmethod(deletions.is_deletion_report)
    header = staticmethod(deletions.report_header)


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

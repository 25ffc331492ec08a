"""What ingestion asks of a source. Every source runs through the same pipeline
(cartwh.ingest.load): its files are listed, read once, batched by header and loaded, each batch
with its ledger rows and archive copies (cartwh.ingest.landed_files). A source says only what is
its own: its name and folder, which files it accepts, its raw tables and how a batch of its files
loads; the hooks below have the defaults most sources want, so a source overrides only what it
needs. The sources, in the order they are ingested: cartwh.ingest.sources.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import duckdb

from cartwh.ingest.csv_reader import ExportFile, file_header
from cartwh.ingest.unrecognised import is_csv
from cartwh.ingest.warehouse import RawTable


class Loader(ABC):
    name: str  # raw.landed_files.source, its key in SOURCES
    folder: str  # inside the landing folder
    # Whether its exports are a lab's, read in their detected dialect (csv_reader, cartwh.ingest.dialects).
    lab_export: bool = False

    @abstractmethod
    def load(self, con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> list[str | RawTable]:
        """Load a batch: the raw tables written (a name, or a RawTable when they are not one row per record)."""

    @abstractmethod
    def create_tables(self, con: duckdb.DuckDBPyConnection) -> None:
        """Its raw tables, created empty before anything lands, so checks and dbt run on a cohort
        without this source (a new site, a retrospective cohort without cytometry yet)."""

    def accepts(self, path: Path) -> bool:
        """Whether a file of its folder is one of its exports (the others are reported as unrecognised)."""
        return is_csv(path)

    def header(self, file: ExportFile) -> list[str]:
        """A file's header: files with the same header are read as one batch."""
        return file_header(file)

    def is_metadata(self, path: Path) -> bool:
        """Whether a file of its folder describes the exports rather than holds records (REDCap's
        dictionary, events, mapping): read with the exports of its folder, never loaded as records."""
        return False

    def read_context(self, folder: Path, landed_folder: str, site: str) -> object:
        """What the exports of `folder` (named `landed_folder` in the landing) are read with
        (ExportFile.context); raises MetadataError, and then none of the folder's files loads."""
        return None

    def unused(self, path: Path) -> str | None:
        """What a file of its folder is when the source knows it but does not use it (reported, not read)."""
        return None

    def archive_context(self, file: ExportFile, archive: Path) -> None:  # noqa: B027 (a hook: by default, nothing)
        """Archive what a version was read with (its context), before its batch commits."""

    def restore_context(self, archive: Path, sha256: str, landing: Path) -> None:  # noqa: B027 (a hook: by default, nothing)
        """Put what an archived version was read with back beside it, when `cartwh rebuild` replays it."""

    def ledger_name(self, landed: str) -> str:
        """The name a file version is known by in the warehouse, its ledger and the logs, from its
        name in the landing."""
        return landed

    def remember(self, con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> None:  # noqa: B027 (a hook: by default, nothing)
        """After a batch committed: what later batches and nights need to know of it
        (cartwh.ingest.known_records), from the batch's temp tables."""

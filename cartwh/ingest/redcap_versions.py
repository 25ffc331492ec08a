"""Which project (dictionary, setup, mapping) each REDCap file version was read with, recorded as
each batch loads (the tables and their readers: cartwh.warehouse.project_versions), and the
metadata files archived beside each record version, so `cartwh rebuild` reads it with its own
project again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from cartwh.contract.redcap_site import SiteProject
from cartwh.ingest.csv_reader import ExportFile
from cartwh.ingest.warehouse import insert_rows
from cartwh.warehouse.project_versions import (
    DICTIONARY_FIELDS,
    FILE_PROJECTS,
    PROJECT_FILES,
    dictionary_sha256,
    field_row,
)

# In the archive: <record file sha256>.json, the metadata files (archived by checksum) it was read
# with, so `cartwh rebuild` reads every version with its own project again.
PROJECTS_DIR = "redcap_projects"


def record_project_versions(con: duckdb.DuckDBPyConnection, files: list[ExportFile], project: SiteProject) -> None:
    """Part of the batch's transaction: rolled back with it."""
    digest = dictionary_sha256(project.dictionary)
    if not con.execute(f"SELECT 1 FROM {DICTIONARY_FIELDS} WHERE dictionary_sha256 = ? LIMIT 1", [digest]).fetchall():
        insert_rows(
            con, DICTIONARY_FIELDS, [(digest, i, *field_row(f)) for i, f in enumerate(project.dictionary.fields)]
        )
    if (
        project.sha256
        and not con.execute(
            f"SELECT 1 FROM {PROJECT_FILES} WHERE project_sha256 = ? LIMIT 1", [project.sha256]
        ).fetchall()
    ):
        insert_rows(con, PROJECT_FILES, [(project.sha256, name, sha) for name, sha in project.files])
    insert_rows(
        con,
        FILE_PROJECTS,
        [
            (
                f.load_id,
                project.folder,
                project.sha256 or None,
                digest,
                project.dictionary.record_id_field,
                project.setup.longitudinal,
                project.mapping is not None,
            )
            for f in files
        ],
    )


def archive_project(file: ExportFile, archive: Path) -> None:
    """Archive the metadata files `file` was read with (by checksum) and which they were: a
    REDCap project's (SiteProject), or any context with the same `files` and `contents` (an FCS
    folder's FlowJo workspace, cartwh.ingest.fcs_loader.FolderGating)."""
    project = file.context
    if not getattr(project, "files", ()):
        return
    entries = []
    for (name, sha), content in zip(project.files, project.contents, strict=True):
        target = Path(archive) / sha[:2] / f"{sha}{Path(name).suffix}"
        if not target.exists():
            _write_atomically(target, content)
        entries.append({"file": name, "sha256": sha, "archive_path": target.relative_to(archive).as_posix()})
    _write_atomically(Path(archive) / PROJECTS_DIR / f"{file.checksum}.json", json.dumps(entries, indent=1).encode())


def restore_project(archive: Path, record_sha256: str, landing: Path) -> None:
    """Put the metadata files an archived record version was read with back beside it."""
    sidecar = Path(archive) / PROJECTS_DIR / f"{record_sha256}.json"
    if sidecar.exists():
        for entry in json.loads(sidecar.read_text(encoding="utf-8")):
            target = Path(landing) / entry["file"]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(archive) / entry["archive_path"], target)


def _write_atomically(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(content)
    partial.replace(target)

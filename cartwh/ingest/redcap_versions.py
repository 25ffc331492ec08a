"""Which project (dictionary, setup, mapping) each REDCap file version was read with.

Every loaded record file is linked to its project's version in raw.landed_file_projects; each
dictionary version is stored once, by the hash of its content, field by field, in
raw.dictionary_fields, and the metadata files read in raw.project_metadata_files. A changed
dictionary is a new hash: `dictionary_changes` lists what changed between a site's successive
dictionaries (fields added, removed, retyped, choices changed) for the data-quality report.
"""

from __future__ import annotations

import hashlib
import json

import duckdb

from cartwh.contract.redcap import DataDictionary
from cartwh.contract.redcap_site import SiteProject
from cartwh.ingest.csv_reader import ExportFile
from cartwh.ingest.warehouse import insert_rows

FILE_PROJECTS = "raw.landed_file_projects"
DICTIONARY_FIELDS = "raw.dictionary_fields"
PROJECT_FILES = "raw.project_metadata_files"


def dictionary_sha256(dictionary: DataDictionary) -> str:
    return hashlib.sha256(json.dumps([_described(f) for f in dictionary.fields]).encode()).hexdigest()


def _described(f) -> list:
    return [f.name, f.form, f.field_type, f.validation, " | ".join(f"{c}, {label}" for c, label in f.choices),
            f.identifier]  # fmt: skip


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""CREATE TABLE IF NOT EXISTS {FILE_PROJECTS} (load_id BIGINT PRIMARY KEY, project VARCHAR,
                    project_sha256 VARCHAR, dictionary_sha256 VARCHAR NOT NULL, record_id_field VARCHAR,
                    longitudinal BOOLEAN, mapped BOOLEAN)""")  # fmt: skip
    con.execute(f"""CREATE TABLE IF NOT EXISTS {DICTIONARY_FIELDS} (dictionary_sha256 VARCHAR, position INTEGER,
                    field_name VARCHAR, form VARCHAR, field_type VARCHAR, validation VARCHAR, choices VARCHAR,
                    identifier BOOLEAN)""")  # fmt: skip
    con.execute(f"CREATE TABLE IF NOT EXISTS {PROJECT_FILES} (project_sha256 VARCHAR, file VARCHAR, sha256 VARCHAR)")


def record_project_versions(con: duckdb.DuckDBPyConnection, files: list[ExportFile], project: SiteProject) -> None:
    """Part of the batch's transaction: rolled back with it."""
    create_tables(con)
    digest = dictionary_sha256(project.dictionary)
    if not con.execute(f"SELECT 1 FROM {DICTIONARY_FIELDS} WHERE dictionary_sha256 = ? LIMIT 1", [digest]).fetchall():
        insert_rows(con, DICTIONARY_FIELDS, [(digest, i, *_described(f)) for i, f in enumerate(project.dictionary.fields)])
    if project.sha256 and not con.execute(f"SELECT 1 FROM {PROJECT_FILES} WHERE project_sha256 = ? LIMIT 1",
                                          [project.sha256]).fetchall():  # fmt: skip
        insert_rows(con, PROJECT_FILES, [(project.sha256, name, sha) for name, sha in project.files])
    insert_rows(con, FILE_PROJECTS, [(f.load_id, project.folder, project.sha256 or None, digest,
                                      project.dictionary.record_id_field, project.setup.longitudinal,
                                      project.mapping is not None) for f in files])  # fmt: skip


def dictionary_changes(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Per site project, each change of dictionary between successive loads, oldest first:
    {project, first_load_id, added, removed, retyped, choices_changed} (field names)."""
    exists = con.execute("SELECT 1 FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = 'landed_file_projects'")
    if not exists.fetchall():
        return []
    versions = con.execute(f"""SELECT project, dictionary_sha256, min(load_id) AS first FROM {FILE_PROJECTS}
                               GROUP BY ALL ORDER BY project, first""").fetchall()  # fmt: skip
    fields = {}
    for digest, name, field_type, validation, choices in con.execute(
            f"SELECT dictionary_sha256, field_name, field_type, validation, choices FROM {DICTIONARY_FIELDS}").fetchall():  # fmt: skip
        fields.setdefault(digest, {})[name] = (field_type, validation, choices)
    changes, previous = [], {}
    for project, digest, first in versions:
        before = previous.get(project)
        previous[project] = digest
        if before is None or before == digest:
            continue
        old, new = fields[before], fields[digest]
        changes.append({"project": project or "(top folder)", "first_load_id": first,
                        "added": sorted(set(new) - set(old)), "removed": sorted(set(old) - set(new)),
                        "retyped": sorted(n for n in set(old) & set(new) if old[n][:2] != new[n][:2]),
                        "choices_changed": sorted(n for n in set(old) & set(new) if old[n][2] != new[n][2])})  # fmt: skip
    return changes

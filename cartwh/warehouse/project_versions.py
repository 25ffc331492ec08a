"""Which project (dictionary, setup, mapping) each REDCap file version was read with: the tables
and what the data-quality pages read of them. Ingestion writes them as each batch loads
(cartwh.ingest.redcap_versions.record_project_versions); they are declared in cartwh.warehouse.schema.

Every loaded record file is linked to its project's version in raw.landed_file_projects; each
dictionary version is stored once, by the hash of its content, field by field, in
raw.dictionary_fields, and the metadata files read in raw.project_metadata_files. A changed
dictionary is a new hash: `dictionary_changes` lists what changed between a site's successive
dictionaries (fields added, removed, retyped, choices changed) for the data-quality report;
`sites_awaiting_mapping` names the site projects whose records reach no mart yet.
"""

from __future__ import annotations

import hashlib
import json

import duckdb

from cartwh.contract.redcap import DataDictionary
from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.contract.redcap_site import SiteProject
from cartwh.warehouse.schema import has_table

FILE_PROJECTS = "raw.landed_file_projects"
DICTIONARY_FIELDS = "raw.dictionary_fields"
PROJECT_FILES = "raw.project_metadata_files"


def dictionary_sha256(dictionary: DataDictionary) -> str:
    return hashlib.sha256(json.dumps([field_row(f) for f in dictionary.fields]).encode()).hexdigest()


def field_row(f) -> list:
    """A field as its row of raw.dictionary_fields (after the hash and position)."""
    return [
        f.name,
        f.form,
        f.field_type,
        f.validation,
        " | ".join(f"{c}, {label}" for c, label in f.choices),
        f.identifier,
    ]


def dictionary_changes(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Per site project, each change of dictionary between successive loads, oldest first:
    {project, first_load_id, added, removed, retyped, choices_changed} (field names)."""
    if not has_table(con, FILE_PROJECTS):  # an older warehouse, read-only
        return []
    versions = con.execute(f"""SELECT project, dictionary_sha256, min(load_id) AS first FROM {FILE_PROJECTS}
                               GROUP BY ALL ORDER BY project, first""").fetchall()
    fields = {}
    for digest, name, field_type, validation, choices in con.execute(
        f"SELECT dictionary_sha256, field_name, field_type, validation, choices FROM {DICTIONARY_FIELDS}"
    ).fetchall():
        fields.setdefault(digest, {})[name] = (field_type, validation, choices)
    changes, previous = [], {}
    for project, digest, first in versions:
        before = previous.get(project)
        previous[project] = digest
        if before is None or before == digest:
            continue
        old, new = fields[before], fields[digest]
        changes.append(
            {
                "project": project or "(top folder)",
                "first_load_id": first,
                "added": sorted(set(new) - set(old)),
                "removed": sorted(set(old) - set(new)),
                "retyped": sorted(n for n in set(old) & set(new) if old[n][:2] != new[n][:2]),
                "choices_changed": sorted(n for n in set(old) & set(new) if old[n][2] != new[n][2]),
            }
        )
    return changes


def sites_awaiting_mapping(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int]]:
    """(site, current record files, rows in its own raw tables) of every site project whose current
    exports have no mapping onto the canonical dictionary: its records are in its
    raw.redcap_site_<site>__* tables only, and none of its patients reaches the marts."""
    if not has_table(con, FILE_PROJECTS):
        return []
    sites = con.execute(
        f"""SELECT coalesce(nullif(p.project, ''), 'main') AS site, count(*) AS files
            FROM {FILE_PROJECTS} AS p JOIN raw.landed_files AS l USING (load_id)
            WHERE l.superseded_by IS NULL AND NOT p.mapped AND p.dictionary_sha256 != ?
            GROUP BY 1 ORDER BY 1""",
        [dictionary_sha256(project_dictionary())],
    ).fetchall()
    awaiting = []
    for site, files in sites:
        prefix = SiteProject(project_dictionary(), folder=site).table_prefix.removeprefix("raw.")
        tables = [
            t
            for (t,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' AND starts_with(table_name, ?)",
                [prefix],
            ).fetchall()
        ]
        rows = sum(con.execute(f'SELECT count(*) FROM raw."{t}"').fetchall()[0][0] for t in tables)
        awaiting.append((site, files, rows))
    return awaiting

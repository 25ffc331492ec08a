"""What a site's REDCap folder says about its record exports: the project they are read with.

A folder below `landing/redcap/` (or `redcap/` itself) may hold, besides its record exports:

- its data dictionary: `dictionary.csv` / `metadata.csv` (the UI download or the API's metadata
  CSV) or `dictionary.json` / `metadata.json` (the API's JSON, what `cartwh pull` writes);
- for a longitudinal project its setup: `arms`, `events`, `form_event_mapping` and
  `repeating_forms_events`, each `.csv` or `.json` as the API exports them, and its data access
  groups (`dags`);
- REDCap's CDISC ODM file (`project.xml`, the UI's `<Project>_<date>.REDCap.xml` or
  `<Project>_CDISC_ODM_<date>.xml`: any `.xml`): its setup, and its ItemDefs and CodeLists as the
  project's dictionary when the folder has no dictionary file (cartwh.contract.redcap_odm). When
  it holds data (`<ClinicalData>`) and the folder has no flat record export, it is the folder's
  record export too (`is_record_export`); beside a flat export only its metadata is read, so the
  same records are never read twice;
- its mapping onto the canonical dictionary: `mapping.yml` / `mapping.yaml`
  (cartwh.contract.site_mapping), or `<CARTWH_REDCAP_MAPPINGS>/<site>.yml` when that folder is set.

Each metadata file is recognised by the name the API or `cartwh pull` gives it (above) or by the
name REDCap's UI gives its download, `<Project>_<Kind>_<date>.csv` in any case: `DataDictionary`,
`Events`, `Arms`, `InstrumentDesignations`, `DAGs`. REDCap's other downloads (users, user roles
and their assignments, users' data access groups, logging) are recognised by the same names and
reported as files cartwh does not use (`unused_kind`): never read as records.

A folder with neither a dictionary nor an ODM file holds exports of the shipped project (the
demo's layout), which maps to itself; another project's records there are refused, saying that
the dictionary is missing (cartwh.ingest.redcap_loader). The project's fingerprint (sha256 of every metadata file read) is part of each
record file's batch: a changed dictionary, setup or mapping is a new version of the project.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from cartwh.contract.redcap import DataDictionary
from cartwh.contract.redcap_dictionary import MetadataError, dictionary_from_rows, parse_dictionary, project_dictionary
from cartwh.contract.redcap_odm import dictionary_rows, holds_records
from cartwh.contract.redcap_project import (
    ProjectSetup,
    metadata_elements,
    parse_arms,
    parse_data_access_groups,
    parse_events,
    parse_form_events,
    parse_repeating,
    read_project_xml,
)
from cartwh.contract.site_mapping import SiteMapping, read_mapping

MAPPINGS_ENV = "CARTWH_REDCAP_MAPPINGS"  # a reviewed folder of <site>.yml mappings, outside the landing
NO_DICTIONARY = (
    "no usable data dictionary: the folder has neither a dictionary nor a CDISC ODM project file, so its records "
    "could only be read as the shipped CAR-T project's, and they are another project's. Land that project's data "
    "dictionary beside them (REDCap's <Project>_DataDictionary_<date>.csv, or the API's metadata)"
)

# File stem, lower-case without underscores (the API's and `cartwh pull`'s names, REDCapR's
# test data) or the kind in a UI download's name -> what it is.
_KINDS = {
    "dictionary": "dictionary",
    "metadata": "dictionary",
    "datadictionary": "dictionary",
    "arms": "arms",
    "arm": "arms",
    "events": "events",
    "event": "events",
    "formeventmapping": "form_events",
    "instrumentdesignations": "form_events",
    "repeatingformsevents": "repeating",
    "repeatinginstrumentsevents": "repeating",
    "dags": "dags",
    "dag": "dags",
}
# REDCap's downloads that describe the project's staff and audit trail: recognised, never read.
_UNUSED = {
    "users": "REDCap's list of the project's users",
    "user": "REDCap's list of the project's users",
    "userroles": "REDCap's user roles",
    "userrole": "REDCap's user roles",
    "userroleassignments": "REDCap's assignments of users to roles",
    "userrolemapping": "REDCap's assignments of users to roles",
    "userdagassignments": "REDCap's assignments of users to data access groups",
    "userdagmapping": "REDCap's assignments of users to data access groups",
    "dagassignments": "REDCap's assignments of users to data access groups",
    "logging": "REDCap's logging (the project's audit trail)",
    "log": "REDCap's logging (the project's audit trail)",
}
# A UI download: <Project>_<Kind>_<YYYY-MM-DD>[_<HHMM>], the project's name shortened by REDCap.
_UI_NAME = re.compile(r"(?P<project>.+?)_(?P<kind>[a-z]+)_\d{4}-\d{2}-\d{2}(_\d{4})?")
_SETUP_PARSERS = {
    "arms": parse_arms,
    "events": parse_events,
    "form_events": parse_form_events,
    "repeating": parse_repeating,
    "dags": parse_data_access_groups,
}


def _named_kind(path: Path) -> str | None:
    """The kind a REDCap file's name gives it (a key of _KINDS or _UNUSED), whatever the case."""
    name, suffix = path.name.lower(), path.suffix.lower()
    stem = name[: -len(suffix)] if suffix else name
    ui = _UI_NAME.fullmatch(stem)
    return ui["kind"] if ui else stem.replace("_", "")


def metadata_kind(path: Path) -> str | None:
    """What a file of a REDCap folder describes ('dictionary', 'events', 'mapping', ...), or None
    for a record export (or a file cartwh does not use: `unused_kind`)."""
    suffix = path.suffix.lower()
    if suffix in (".yml", ".yaml"):
        return "mapping" if path.stem.lower() == "mapping" else None
    if suffix == ".xml":
        return "project_xml"
    if suffix not in (".csv", ".json"):
        return None
    return _KINDS.get(_named_kind(path))


def unused_kind(path: Path) -> str | None:
    """What a REDCap download cartwh does not use is (users, roles, logging, ...), or None."""
    return _UNUSED.get(_named_kind(path)) if path.suffix.lower() in (".csv", ".json") else None


def is_metadata(path: Path) -> bool:
    return metadata_kind(path) is not None


@dataclass(frozen=True)
class SiteProject:
    """The project a folder's record exports are read with."""

    dictionary: DataDictionary
    setup: ProjectSetup = ProjectSetup()
    mapping: SiteMapping | None = None
    folder: str = ""  # below redcap/ ('' at the top)
    sha256: str = ""  # of every metadata file read ('' for the shipped project with no file)
    dictionary_from: str = ""  # the landed file its dictionary was read from ('': the shipped one, by default)
    files: tuple[tuple[str, str], ...] = field(default=())  # (landed name, sha256) of those files
    contents: tuple[bytes, ...] = field(default=(), compare=False, repr=False)  # their bytes, as read

    @property
    def canonical(self) -> bool:
        """Its exports are the shipped project's: loaded straight into the canonical tables."""
        return self.dictionary.fields == project_dictionary().fields

    @property
    def table_prefix(self) -> str:
        """The site's own raw tables: raw.redcap_site_<folder>__<form>."""
        return f"raw.redcap_site_{re.sub(r'[^a-z0-9_]', '_', (self.folder or 'main').lower())}__"


def read_site_project(folder: Path, landed_folder: str, site: str = "") -> SiteProject:
    """The project of the record exports in `folder`; `landed_folder` is its name inside the
    landing folder (errors name files by it). Raises MetadataError naming the file at fault."""
    found: dict[str, list[Path]] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []:
        kind = metadata_kind(path)
        if kind:
            found.setdefault(kind, []).append(path)
    configured = os.environ.get(MAPPINGS_ENV)
    if configured and site and "mapping" not in found:
        candidates = [Path(configured) / f"{site}{suffix}" for suffix in (".yml", ".yaml")]
        found["mapping"] = [p for p in candidates if p.is_file()][:1] or []
    for kind, paths in found.items():
        if len(paths) > 1:
            raise MetadataError(
                f"{landed_folder}/{paths[1].name}",
                f"a second {kind.replace('_', ' ')} file (also {paths[0].name}): keep one",
            )
    contents = {kind: (paths[0], paths[0].read_bytes()) for kind, paths in found.items() if paths}
    named = {kind: f"{landed_folder}/{path.name}" for kind, (path, _) in contents.items()}
    if "dictionary" in contents:
        dictionary = parse_dictionary(
            contents["dictionary"][1],
            named["dictionary"],
            json_text=contents["dictionary"][0].suffix.lower() == ".json",
        )
    elif "project_xml" in contents:
        dictionary = _odm_dictionary(contents["project_xml"][0], named["project_xml"])
    else:
        dictionary = project_dictionary()
    setup = _setup(contents, named)
    if setup.form_events or setup.repeating:
        described = named.get("form_events") or named.get("repeating") or named.get("project_xml")
        try:
            setup.check_against(dictionary.forms, described)
        except MetadataError as error:
            if "dictionary" in contents or "project_xml" in contents:
                raise
            raise MetadataError(described, f"{NO_DICTIONARY} ({error})") from None
    mapping = None
    if "mapping" in contents:
        mapping = read_mapping(
            contents["mapping"][1].decode("utf-8-sig"),
            named["mapping"],
            dictionary,
            project_dictionary(),
            tuple(e.unique_event_name for e in setup.events),
        )
    read = sorted(contents.items())
    files = tuple((named[kind], hashlib.sha256(content).hexdigest()) for kind, (_, content) in read)
    fingerprint = hashlib.sha256("\n".join(f"{n} {s}" for n, s in files).encode()).hexdigest() if files else ""
    return SiteProject(
        dictionary,
        setup,
        mapping,
        landed_folder.removeprefix("redcap").strip("/"),
        fingerprint,
        named.get("dictionary") or named.get("project_xml", ""),
        files,
        tuple(content for _, (_, content) in read),
    )


def _odm_dictionary(path: Path, name: str) -> DataDictionary:
    """The ODM file's ItemDefs as the project's dictionary (the shipped one when they are its
    fields and forms, so the shipped project exported as ODM still loads as the shipped project)."""
    rows = dictionary_rows(metadata_elements(path, name))
    if not rows:
        return project_dictionary()
    dictionary = dictionary_from_rows(rows, name)
    shipped = project_dictionary()
    same = [(f.name, f.form) for f in dictionary.fields] == [(f.name, f.form) for f in shipped.fields]
    return shipped if same else dictionary


def is_record_export(path: Path) -> bool:
    """An ODM file that is its folder's record export too: it holds records, and no flat record
    export (a CSV that is neither metadata nor a download cartwh does not use) is beside it to
    hold them instead, so the same records are never read twice."""
    if metadata_kind(path) != "project_xml" or not holds_records(path):
        return False
    return not any(
        p.is_file() and p.suffix.lower() == ".csv" and not metadata_kind(p) and not unused_kind(p)
        for p in path.parent.iterdir()
    )


def _setup(contents: dict[str, tuple[Path, bytes]], named: dict[str, str]) -> ProjectSetup:
    """project.xml's setup, each part replaced by the API's export of it where one is landed."""
    base = (
        read_project_xml(contents["project_xml"][0], named["project_xml"])
        if "project_xml" in contents
        else ProjectSetup()
    )
    parsed = {
        kind: _SETUP_PARSERS[kind](content, named[kind], json_text=path.suffix.lower() == ".json")
        for kind, (path, content) in contents.items()
        if kind in _SETUP_PARSERS
    }
    return replace(base, **{_SETUP_FIELDS[kind]: value for kind, value in parsed.items()})


_SETUP_FIELDS = {
    "arms": "arms",
    "events": "events",
    "form_events": "form_events",
    "repeating": "repeating",
    "dags": "data_access_groups",
}

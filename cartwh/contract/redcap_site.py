"""What a site's REDCap folder says about its record exports: the project they are read with.

A folder below `landing/redcap/` (or `redcap/` itself) may hold, besides its record exports:

- its data dictionary: `dictionary.csv` / `metadata.csv` (the UI download or the API's metadata
  CSV; also a UI download's own name, `<Project>_DataDictionary_<date>.csv`) or
  `dictionary.json` / `metadata.json` (the API's JSON, what `cartwh pull` writes);
- for a longitudinal project its setup: `arms`, `events`, `form_event_mapping` (also the UI's
  `<Project>_InstrumentDesignations_<date>.csv`) and `repeating_forms_events`, each `.csv` or
  `.json` as the API exports them, or REDCap's `project.xml` (only its metadata is read);
- its mapping onto the canonical dictionary: `mapping.yml` / `mapping.yaml`
  (cartwh.contract.site_mapping), or `<CARTWH_REDCAP_MAPPINGS>/<site>.yml` when that folder is set.

A folder without a dictionary holds exports of the shipped project (the demo's layout), which
maps to itself. The project's fingerprint (sha256 of every metadata file read) is part of each
record file's batch: a changed dictionary, setup or mapping is a new version of the project.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from cartwh.contract.redcap import DataDictionary, project_dictionary
from cartwh.contract.redcap_dictionary import MetadataError, parse_dictionary
from cartwh.contract.redcap_project import (
    ProjectSetup,
    parse_arms,
    parse_events,
    parse_form_events,
    parse_repeating,
    read_project_xml,
)
from cartwh.contract.site_mapping import SiteMapping, read_mapping

MAPPINGS_ENV = "CARTWH_REDCAP_MAPPINGS"  # a reviewed folder of <site>.yml mappings, outside the landing

_KINDS = {  # file stem (lower-case) -> what it is
    "dictionary": "dictionary",
    "metadata": "dictionary",
    "arms": "arms",
    "arm": "arms",
    "events": "events",
    "event": "events",
    "form_event_mapping": "form_events",
    "formeventmapping": "form_events",
    "instrument_designations": "form_events",
    "repeating_forms_events": "repeating",
    "repeatingformsevents": "repeating",
}
_UI_NAMES = {"datadictionary": "dictionary", "instrumentdesignations": "form_events"}
_SETUP_PARSERS = {
    "arms": parse_arms,
    "events": parse_events,
    "form_events": parse_form_events,
    "repeating": parse_repeating,
}


def metadata_kind(path: Path) -> str | None:
    """What a file of a REDCap folder describes ('dictionary', 'events', 'mapping', ...), or None
    for a record export."""
    name, suffix = path.name.lower(), path.suffix.lower()
    stem = name[: -len(suffix)] if suffix else name
    if suffix in (".yml", ".yaml"):
        return "mapping" if stem == "mapping" else None
    if name == "project.xml":
        return "project_xml"
    if suffix not in (".csv", ".json"):
        return None
    if stem in _KINDS:
        return _KINDS[stem]
    squashed = stem.replace("_", "")
    return next((kind for marker, kind in _UI_NAMES.items() if marker in squashed and suffix == ".csv"), None)


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
    else:
        dictionary = project_dictionary()
    setup = _setup(contents, named)
    if setup.form_events or setup.repeating:
        setup.check_against(
            dictionary.forms, named.get("form_events") or named.get("repeating") or named.get("project_xml")
        )
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
        files,
        tuple(content for _, (_, content) in read),
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


_SETUP_FIELDS = {"arms": "arms", "events": "events", "form_events": "form_events", "repeating": "repeating"}

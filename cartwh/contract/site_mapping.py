"""A site's reviewed mapping of its own REDCap project onto the canonical CAR-T dictionary.

A site whose project has its own field names, choice codes and events lands a YAML file next to
its exports (`landing/redcap/<site>/mapping.yml`, see docs/data-contract.md):

    fields:
      pt_sex:                      # site field -> canonical field, with its codes
        to: sex
        choices: {M: "1", F: "2"}
      dx_dt: diagnosis_date        # same type, nothing to recode
    events:                        # optional: the canonical forms each site event feeds
      screening_arm_1: [demographics, disease_history]
    units:                         # site value field -> canonical code of its `<analyte>_unit`
      anc: "1"

The mapping is checked against the site's dictionary (and events) and the canonical dictionary
before any row lands; every error names the mapping file and its line. A site field that
identifies a patient (flagged Identifier?, an identifying text validation, or a name, MRN, birth
date, address, phone or e-mail by its name or label: cartwh.contract.free_text.identifying) is
mapped onto nothing: the allow-listed free text and the dates would carry it into the marts. Site fields it does not
map stay in the site's raw tables (cartwh.ingest.redcap_loader) and are reported once per file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from cartwh.contract.free_text import identifying
from cartwh.contract.redcap import DataDictionary, Field
from cartwh.contract.redcap_dictionary import MetadataError

_CODED = ("radio", "dropdown")
_FLAGS = ("yesno", "truefalse")
_SECTIONS = ("fields", "events", "units")


class MappingError(MetadataError):
    """A mapping that cannot be used: nothing of the site's batch lands."""

    def __init__(self, file: str, message: str, line: int):
        ValueError.__init__(self, f"{file} (line {line}): {message}")
        self.file, self.row, self.column, self.line = file, line, None, line


@dataclass(frozen=True)
class FieldMap:
    site: str
    canonical: str
    choices: dict[str, str] = field(default_factory=dict)  # site code -> canonical code (identity when absent)
    line: int = 0


@dataclass(frozen=True)
class SiteMapping:
    fields: tuple[FieldMap, ...]
    events: dict[str, tuple[str, ...]]  # site event -> canonical forms it feeds (absent: any)
    units: dict[str, str]  # site value field -> canonical unit code
    name: str

    def for_site_field(self, site_field: str) -> FieldMap | None:
        return next((m for m in self.fields if m.site == site_field), None)

    def feeds(self, event: str, form: str) -> bool:
        return event not in self.events or form in self.events[event]


def read_mapping(
    text: str, name: str, site: DataDictionary, canonical: DataDictionary, site_events: tuple[str, ...] = ()
) -> SiteMapping:
    """Parse and check a mapping; `name` is how errors call the file (its landed name)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise MappingError(
            name, f"not YAML ({getattr(error, 'problem', error)})", (mark.line + 1) if mark else 1
        ) from None
    if root is None:
        raise MappingError(name, "empty mapping", 1)
    sections = _mapping(root, name, "the file")
    for key, _value in sections:
        if key.value not in _SECTIONS:
            raise MappingError(name, f"unknown section '{key.value}' (expected {', '.join(_SECTIONS)})", _line(key))
    by_name = {k.value: v for k, v in sections}
    if "fields" not in by_name:
        raise MappingError(name, "no 'fields' section: nothing is mapped", 1)
    fields = tuple(
        _field_map(key, value, name, site, canonical) for key, value in _mapping(by_name["fields"], name, "fields")
    )
    targets: dict[str, FieldMap] = {}
    for m in fields:
        if m.canonical in targets:
            raise MappingError(
                name,
                f"canonical field '{m.canonical}' is mapped twice (also from "
                f"'{targets[m.canonical].site}', line {targets[m.canonical].line})",
                m.line,
            )
        targets[m.canonical] = m
    events = {}
    for key, value in _mapping(by_name["events"], name, "events") if "events" in by_name else []:
        if site_events and key.value not in site_events:
            raise MappingError(name, f"'{key.value}' is not an event of the site's project", _line(key))
        if not isinstance(value, yaml.SequenceNode):
            raise MappingError(name, f"event '{key.value}': expected a list of canonical forms", _line(value))
        for item in value.value:
            if item.value not in canonical.forms:
                raise MappingError(name, f"'{item.value}' is not a canonical form", _line(item))
        events[key.value] = tuple(item.value for item in value.value)
    units = {}
    for key, value in _mapping(by_name["units"], name, "units") if "units" in by_name else []:
        units[key.value] = _unit(key, value, name, targets, canonical)
    return SiteMapping(fields, events, units, name)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _mapping(node: yaml.Node, name: str, what: str) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise MappingError(name, f"{what}: expected 'key: value' entries", _line(node))
    return node.value


def _scalar(node: yaml.Node, name: str, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        raise MappingError(name, f"{what}: expected a name or code", _line(node))
    return str(node.value).strip()


def _field_map(key, value, name: str, site: DataDictionary, canonical: DataDictionary) -> FieldMap:
    site_name = _scalar(key, name, "a site field")
    if site_name not in {f.name for f in site.fields}:
        raise MappingError(name, f"'{site_name}' is not a field of the site's dictionary", _line(key))
    choices: dict[str, str] = {}
    if isinstance(value, yaml.MappingNode):
        entries = {k.value: v for k, v in value.value}
        unknown = [k for k, _ in value.value if k.value not in ("to", "choices")]
        if unknown:
            raise MappingError(name, f"'{unknown[0].value}': expected 'to' or 'choices'", _line(unknown[0]))
        if "to" not in entries:
            raise MappingError(name, f"'{site_name}': no 'to' (the canonical field)", _line(key))
        target_node = entries["to"]
        if "choices" in entries:
            choices = {
                _scalar(k, name, "a site code"): _scalar(v, name, "a canonical code")
                for k, v in _mapping(entries["choices"], name, "choices")
            }
            code_lines = {k.value: _line(k) for k, _ in entries["choices"].value}
    else:
        target_node = value
    target = _scalar(target_node, name, f"'{site_name}'")
    if target not in {f.name for f in canonical.fields}:
        raise MappingError(name, f"'{target}' is not a field of the canonical dictionary", _line(target_node))
    s, c = site.field(site_name), canonical.field(target)
    identifies = identifying(s)
    if identifies:
        raise MappingError(
            name,
            f"'{site_name}' identifies a patient ({identifies} in the site's dictionary): no identifier is "
            f"mapped onto the canonical model (here onto '{target}'); remove the line, the field stays out "
            "of the warehouse",
            _line(key),
        )
    problem = _cannot_carry(s, c)
    if problem:
        raise MappingError(
            name, f"'{site_name}' ({_kind(s)}) cannot carry canonical '{target}' ({_kind(c)}): {problem}", _line(key)
        )
    site_codes = (
        [code for code, _ in s.choices]
        if s.field_type in (*_CODED, "checkbox")
        else (["0", "1"] if s.field_type in _FLAGS else [])
    )
    canonical_codes = (
        {code for code, _ in c.choices}
        if c.field_type in (*_CODED, "checkbox")
        else ({"0", "1"} if c.field_type in _FLAGS else set())
    )
    for code, to in choices.items():
        if code not in site_codes:
            raise MappingError(name, f"'{code}' is not a code of site field '{site_name}'", code_lines[code])
        if to not in canonical_codes:
            raise MappingError(
                name,
                f"'{to}' is not a code of canonical field '{target}' ({', '.join(sorted(canonical_codes))})",
                code_lines[code],
            )
    for code in site_codes:
        if choices.get(code, code) not in canonical_codes:
            raise MappingError(
                name,
                f"site code '{code}' of '{site_name}' is not mapped to a code of canonical "
                f"'{target}' ({', '.join(sorted(canonical_codes))})",
                _line(key),
            )
    return FieldMap(site_name, target, choices, _line(key))


def _kind(f: Field) -> str:
    return f.field_type if f.field_type != "text" else f"text, {f.validation or 'free'}"


def _cannot_carry(site: Field, canonical: Field) -> str | None:
    """Why a site field's values cannot be the canonical field's (None: they can)."""
    coded = (*_CODED, *_FLAGS)
    if canonical.field_type == "checkbox" or site.field_type == "checkbox":
        return None if site.field_type == canonical.field_type else "a checkbox maps only to a checkbox"
    if canonical.field_type in coded:
        return None if site.field_type in coded else "a coded field needs a coded site field (codes to map)"
    if site.field_type in coded:
        return "codes are no value of this type"
    if canonical.sql_type == site.sql_type:
        return None
    if canonical.sql_type == "DOUBLE" and site.sql_type == "BIGINT":
        return None
    return f"{site.sql_type.lower()} values are not {canonical.sql_type.lower()} values"


def _unit(key, value, name: str, targets: dict[str, FieldMap], canonical: DataDictionary) -> str:
    site_name = _scalar(key, name, "a site field")
    mapped = next((m for m in targets.values() if m.site == site_name), None)
    if mapped is None:
        raise MappingError(
            name, f"'{site_name}' is not a mapped field: declare units of mapped value fields", _line(key)
        )
    unit_field = unit_field_of(mapped.canonical)
    if unit_field not in {f.name for f in canonical.fields}:
        raise MappingError(name, f"canonical '{mapped.canonical}' has no unit field ('{unit_field}')", _line(key))
    if unit_field in targets:
        raise MappingError(
            name, f"'{unit_field}' is both mapped (line {targets[unit_field].line}) and declared", _line(key)
        )
    code = _scalar(value, name, f"the unit of '{site_name}'")
    codes = [c for c, _ in canonical.field(unit_field).choices]
    if code not in codes:
        labels = ", ".join(f"{c} = {label}" for c, label in canonical.field(unit_field).choices)
        raise MappingError(name, f"'{code}' is not a unit code of '{unit_field}' ({labels})", _line(value))
    return code


def unit_field_of(value_field: str) -> str:
    """The canonical laboratory model pairs `<analyte>_value` with `<analyte>_unit`."""
    return value_field.removesuffix("_value") + "_unit"


def must_cover(canonical: DataDictionary) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """What a site's mapping must map for its patients to reach the marts: the canonical fields
    REDCap requires ("Required Field?"), form by form, but the identifiers that never land (name,
    MRN; a birth date is needed: it becomes the age at infusion)."""
    required = [f for f in canonical.fields if f.required and not (f.identifier and not f.is_dated)]
    return tuple(
        (form, tuple(f.name for f in required if f.form == form))
        for form in canonical.forms
        if any(f.form == form for f in required)
    )

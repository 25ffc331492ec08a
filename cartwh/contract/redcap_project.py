"""A REDCap project's longitudinal and repeating setup: arms, events, which forms each event
holds, which forms or events repeat, and which forms are surveys.

Read from the API's exports (`content=arm`, `event`, `formEventMapping`, `repeatingFormsEvents`,
as CSV or JSON, what PyCap's `export_arms`, `export_events`, `export_instrument_event_mappings`,
`export_repeating_instruments_events` return) or from the CDISC ODM project file REDCap writes
(`project.xml`, "Download metadata & data"). Here only project.xml's metadata is read: the parser
stops at `<ClinicalData>`; the records it may hold are read, when they are the folder's record
export, by cartwh.contract.redcap_odm, through the same loader as a flat export.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from cartwh.contract.redcap import ExportLayout
from cartwh.contract.redcap_dictionary import REDCAP_NAME, MetadataError, shown

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
REDCAP = "{https://projectredcap.org}"


@dataclass(frozen=True)
class Arm:
    number: int
    name: str


@dataclass(frozen=True)
class Event:
    unique_event_name: str  # what redcap_event_name holds in a raw export, e.g. dose_1_arm_1
    label: str  # "Dose 1"
    arm: int
    day_offset: float | None = None  # days from the first event; REDCap omits it without scheduling
    offset_min: float | None = None
    offset_max: float | None = None
    custom_label: str = ""


@dataclass(frozen=True)
class FormEvent:
    arm: int
    unique_event_name: str
    form: str


@dataclass(frozen=True)
class Repeating:
    """A repeating form (`form` set) or a whole repeating event (`form` empty). `event` is empty
    in a classic (non-longitudinal) project."""

    event: str
    form: str
    custom_label: str = ""


@dataclass(frozen=True)
class ProjectSetup:
    arms: tuple[Arm, ...] = ()
    events: tuple[Event, ...] = ()
    form_events: tuple[FormEvent, ...] = ()
    repeating: tuple[Repeating, ...] = ()
    survey_forms: tuple[str, ...] = ()
    data_access_groups: tuple[str, ...] = ()
    record_id_field: str | None = None  # project.xml names it; the API's dictionary starts with it

    @property
    def longitudinal(self) -> bool:
        return bool(self.events)

    def event(self, unique_event_name: str) -> Event:
        return next(e for e in self.events if e.unique_event_name == unique_event_name)

    def event_forms(self, unique_event_name: str) -> tuple[str, ...]:
        return tuple(m.form for m in self.form_events if m.unique_event_name == unique_event_name)

    @property
    def repeating_forms(self) -> tuple[tuple[str, str], ...]:
        """(event, form) of every repeating instrument."""
        return tuple((r.event, r.form) for r in self.repeating if r.form)

    @property
    def repeating_events(self) -> tuple[str, ...]:
        return tuple(r.event for r in self.repeating if not r.form)

    def export_layout(self, with_data_access_groups: bool | None = None) -> ExportLayout:
        """The columns a raw flat record export of this project has besides its fields. The group
        column is there only if the export asked for it (and the project has groups)."""
        groups = bool(self.data_access_groups) if with_data_access_groups is None else with_data_access_groups
        return ExportLayout(self.longitudinal, bool(self.repeating), groups, self.survey_forms)

    def check_against(self, forms: tuple[str, ...], name: str) -> None:
        """Every form the mapping and the repeating setup name is a form of the dictionary, and
        every mapped event is an event of the project."""
        events = {e.unique_event_name for e in self.events}
        for number, m in enumerate(self.form_events, start=2):
            if m.form not in forms:
                raise MetadataError(name, f"form '{m.form}' is not in the data dictionary", row=number, column="form")
            if events and m.unique_event_name not in events:
                raise MetadataError(
                    name,
                    f"event '{m.unique_event_name}' is not an event of the project",
                    row=number,
                    column="unique_event_name",
                )
        for r in self.repeating:
            if r.form and r.form not in forms:
                raise MetadataError(name, f"repeating form '{r.form}' is not in the data dictionary")


# --- the API's exports ---------------------------------------------------------------------------


def api_table(
    content: bytes, name: str, required: tuple[str, ...], json_text: bool, may_be_empty: tuple[str, ...] = ()
) -> list[tuple[int, dict]]:
    """(row number, row) of an API export as CSV (header = row 1) or JSON (entry number); every
    `required` column is there and filled, but those that `may_be_empty`."""
    text = content.decode("utf-8-sig")
    if json_text:
        try:
            entries = json.loads(text) if text.strip() else []
        except json.JSONDecodeError as error:
            raise MetadataError(name, f"not JSON ({error.msg} at line {error.lineno})") from None
        if isinstance(entries, dict) and "error" in entries:  # what REDCap answers instead of a list
            raise MetadataError(name, f"REDCap answered an error: {entries['error']}")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise MetadataError(name, "not a JSON list of entries")
        rows = list(enumerate(entries, start=1))
    else:
        lines = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
        if not lines:
            return []
        header = [c.strip() for c in lines[0]]
        missing = [c for c in required if c not in header]
        if missing:
            raise MetadataError(name, f"required column missing: {', '.join(missing)}", row=1, column=missing[0])
        rows = [(n, dict(zip(header, r, strict=False))) for n, r in enumerate(lines[1:], start=2)]
    for number, row in rows:
        for column in required:
            if column not in row:
                raise MetadataError(name, f"required key missing: {column}", row=number, column=column)
            if column not in may_be_empty and str(row[column] if row[column] is not None else "").strip() == "":
                raise MetadataError(name, "empty value", row=number, column=column)
    return [(n, {k: str(v if v is not None else "").strip() for k, v in row.items()}) for n, row in rows]


def _integer(text: str, name: str, row: int, column: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise MetadataError(name, f"'{text}' is not an arm number", row=row, column=column) from None


def _offset(text: str) -> float | None:
    return float(text) if text else None


def parse_arms(content: bytes, name: str, json_text: bool = False) -> tuple[Arm, ...]:
    return tuple(
        Arm(_integer(r["arm_num"], name, n, "arm_num"), r["name"])
        for n, r in api_table(content, name, ("arm_num", "name"), json_text)
    )


def parse_events(content: bytes, name: str, json_text: bool = False) -> tuple[Event, ...]:
    events = []
    for n, r in api_table(content, name, ("event_name", "arm_num", "unique_event_name"), json_text):
        if not REDCAP_NAME.fullmatch(r["unique_event_name"]):
            raise MetadataError(
                name,
                f"{shown(r['unique_event_name'])} is not a REDCap unique event name (lower-case letters, digits, _)",
                row=n,
                column="unique_event_name",
            )
        try:
            offsets = [_offset(r.get(c, "")) for c in ("day_offset", "offset_min", "offset_max")]
        except ValueError:
            raise MetadataError(name, "an offset is not a number", row=n, column="day_offset") from None
        events.append(
            Event(
                r["unique_event_name"],
                r["event_name"],
                _integer(r["arm_num"], name, n, "arm_num"),
                *offsets,
                custom_label=r.get("custom_event_label", ""),
            )
        )
    return tuple(events)


def parse_form_events(content: bytes, name: str, json_text: bool = False) -> tuple[FormEvent, ...]:
    return tuple(
        FormEvent(_integer(r["arm_num"], name, n, "arm_num"), r["unique_event_name"], r["form"])
        for n, r in api_table(content, name, ("arm_num", "unique_event_name", "form"), json_text)
    )


def parse_data_access_groups(content: bytes, name: str, json_text: bool = False) -> tuple[str, ...]:
    """The unique group names (what `redcap_data_access_group` holds) of the API's or the UI's DAGs."""
    rows = api_table(content, name, ("data_access_group_name", "unique_group_name"), json_text, ("unique_group_name",))
    return tuple(r["unique_group_name"] or r["data_access_group_name"] for _, r in rows)


def parse_repeating(content: bytes, name: str, json_text: bool = False) -> tuple[Repeating, ...]:
    # An empty form_name is a whole repeating event; an empty event_name, a classic project.
    rows = api_table(content, name, ("event_name", "form_name"), json_text, may_be_empty=("event_name", "form_name"))
    return tuple(Repeating(r["event_name"], r["form_name"], r.get("custom_form_label", "")) for _, r in rows)


# --- project.xml (CDISC ODM) ---------------------------------------------------------------------


def read_project_xml(path: Path, name: str | None = None) -> ProjectSetup:
    name = name or str(path)
    metadata = metadata_elements(path, name)
    study_events = [e for e in metadata if e.tag == ODM + "StudyEventDef"]
    arms: dict[int, Arm] = {}
    events, form_events = [], []
    for element in study_events:
        attribute = lambda key, element=element: element.get(REDCAP + key, "")  # noqa: E731
        arm = int(attribute("ArmNum") or 1)
        arms.setdefault(arm, Arm(arm, attribute("ArmName")))
        unique = attribute("UniqueEventName")
        events.append(
            Event(
                unique,
                attribute("EventName"),
                arm,
                _offset(attribute("DayOffset")),
                _offset(attribute("OffsetMin")),
                _offset(attribute("OffsetMax")),
                attribute("CustomEventLabel"),
            )
        )
        form_events += [
            FormEvent(arm, unique, ref.get(REDCAP + "FormName", "")) for ref in element if ref.tag == ODM + "FormRef"
        ]
    longitudinal = bool(events)
    repeating = []
    for element in metadata:
        if element.tag in (REDCAP + "RepeatingInstrument", REDCAP + "RepeatingEvent"):
            # A classic project has one hidden event; its name means nothing in the exports.
            event = element.get(REDCAP + "UniqueEventName", "") if longitudinal else ""
            repeating.append(
                Repeating(event, element.get(REDCAP + "RepeatInstrument", ""), element.get(REDCAP + "CustomLabel", ""))
            )
    surveys = tuple(e.get("form_name", "") for e in metadata if e.tag == REDCAP + "Surveys")
    groups = tuple(e.get("group_name", "") for e in metadata if e.tag == REDCAP + "DataAccessGroups")
    record_id = next((e.get(REDCAP + "RecordIdField") for e in metadata if e.tag == ODM + "MetaDataVersion"), None)
    return ProjectSetup(
        tuple(arms.values()), tuple(events), tuple(form_events), tuple(repeating), surveys, groups, record_id
    )


def metadata_elements(path: Path, name: str) -> list[ElementTree.Element]:
    """Every element before <ClinicalData>, parsed incrementally so the data are never read."""
    elements = []
    try:
        for _event, element in ElementTree.iterparse(path, events=("start",)):
            if element.tag == ODM + "ClinicalData":
                break
            elements.append(element)
    except ElementTree.ParseError as error:
        raise MetadataError(name, f"not a well-formed project file ({error})") from None
    if not elements or elements[0].tag != ODM + "ODM":
        raise MetadataError(name, "not a CDISC ODM project file (no <ODM> root)")
    return elements

"""REDCap's CDISC ODM export read as what it holds: a data dictionary and a record export.

REDCap writes ODM 1.3.1 (the project XML, "CDISC ODM (XML)" in Data Exports, the API's
`content=project`): `<MetaDataVersion>` describes the forms (`FormDef` -> `ItemGroupRef` ->
`ItemGroupDef` -> `ItemRef`), the fields (`ItemDef`: `redcap:Variable`, `redcap:FieldType`,
`redcap:TextValidationType`, `redcap:Identifier`, `RangeCheck`) and their codes (`CodeList`;
a checkbox's choices in `redcap:CheckboxChoices`, one ItemDef per checkbox column);
`<ClinicalData>` holds the records: `SubjectData` (one per record) -> `StudyEventData` (one per
event and repeat of an event; absent in a classic project) -> `FormData` (`FormRepeatKey`: the
instance of a repeating instrument) -> `ItemGroupData` -> `ItemData` (`ItemOID`, `Value`).

`dictionary_rows` gives the ItemDefs as the rows of REDCap's dictionary (the API's column
names), so they are read and checked by the same code as a dictionary file. `flat_export`
writes the records as REDCap's flat CSV export of the same project would hold them: one row per
record, event and repeating instrument instance (REDCap's row order), the record id in every
row, a checkbox as its `field___code` columns of 0 and 1, the record's data access group when
the file carries it, and datetimes with a space where ODM has `T`. What the flat export would
leave empty stays empty, so the flat reader decides which rows hold which form exactly as it
does for a CSV export.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from cartwh.contract.redcap import DATA_ACCESS_GROUP, EVENT, REPEAT_INSTANCE, REPEAT_INSTRUMENT, DataDictionary
from cartwh.contract.redcap_project import ODM, REDCAP, ProjectSetup

# REDCap's field types as ODM names them, where the dictionary names them otherwise.
_FIELD_TYPES = {"select": "dropdown", "textarea": "notes"}
# Validation types as REDCap stores them (ODM) -> as its dictionary names them.
_VALIDATIONS = {"int": "integer", "float": "number"}
# Items REDCap's ODM lists among a form's fields that are the export's own columns, not fields.
_EXPORT_COLUMNS = {EVENT, REPEAT_INSTRUMENT, REPEAT_INSTANCE, DATA_ACCESS_GROUP, "redcap_survey_identifier"}
_ISO_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(:\d{2})?)")


def holds_records(path: Path) -> bool:
    """Whether the ODM file has records (<ClinicalData> with a <SubjectData>), read only that far."""
    try:
        for _event, element in ElementTree.iterparse(path, events=("start",)):
            if element.tag == ODM + "SubjectData":
                return True
    except ElementTree.ParseError:
        return False  # reading its metadata says what is wrong with it
    return False


def dictionary_rows(elements: list[ElementTree.Element]) -> list[tuple[int, dict]]:
    """The project's fields as dictionary rows (API column names), in REDCap's order: forms as
    the FormDefs list them, each form's fields as its item groups list them. Form status and
    survey timestamp items, and the export's own columns (data access group, survey identifier),
    are not fields (the export header adds them); a checkbox's columns are one field. Numbered by ItemDef, as errors name them."""
    by_oid = {e.get("OID"): e for e in elements if e.tag in (ODM + "ItemDef", ODM + "ItemGroupDef", ODM + "CodeList")}
    position = {e.get("OID"): n for n, e in enumerate((e for e in elements if e.tag == ODM + "ItemDef"), start=1)}
    rows, seen = [], set()
    for form_def in (e for e in elements if e.tag == ODM + "FormDef"):
        form = form_def.get(REDCAP + "FormName") or form_def.get("Name", "")
        for group_ref in form_def.iter(ODM + "ItemGroupRef"):
            group = by_oid.get(group_ref.get("ItemGroupOID"))
            for item_ref in group.iter(ODM + "ItemRef") if group is not None else ():
                item = by_oid.get(item_ref.get("ItemOID"))
                variable = item_ref.get(REDCAP + "Variable") or item_ref.get("ItemOID")
                if (
                    item is None
                    or variable in seen
                    or variable in _EXPORT_COLUMNS | {f"{form}_complete", f"{form}_timestamp"}
                ):
                    continue
                seen.add(variable)
                row = _field_row(item, form, variable, by_oid) | {
                    "required_field": "y" if item_ref.get("Mandatory") == "Yes" else ""
                }
                rows.append((position[item.get("OID")], row))
    return rows


def _field_row(item: ElementTree.Element, form: str, variable: str, by_oid: dict) -> dict:
    field_type = item.get(REDCAP + "FieldType", "text")
    codes = by_oid.get(next((r.get("CodeListOID") for r in item.iter(ODM + "CodeListRef")), None))
    if field_type == "checkbox":
        choices = codes.get(REDCAP + "CheckboxChoices", "") if codes is not None else ""
    elif field_type in ("radio", "select") and codes is not None:
        choices = " | ".join(f"{i.get('CodedValue')}, {_text(i)}" for i in codes.iter(ODM + "CodeListItem"))
    else:
        choices = item.get(REDCAP + "Calculation") or item.get(REDCAP + "SliderLabels") or ""
    ranges = {c.get("Comparator"): (c.findtext(ODM + "CheckValue") or "") for c in item.iter(ODM + "RangeCheck")}
    validation = item.get(REDCAP + "TextValidationType", "")
    return {
        "field_name": variable,
        "form_name": form,
        "field_type": _FIELD_TYPES.get(field_type, field_type),
        "field_label": _text(item.find(ODM + "Question")),
        "select_choices_or_calculations": choices,
        "text_validation_type_or_show_slider_number": _VALIDATIONS.get(validation, validation),
        "text_validation_min": ranges.get("GE", ""),
        "text_validation_max": ranges.get("LE", ""),
        "identifier": item.get(REDCAP + "Identifier", ""),
    }


def _text(element: ElementTree.Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def flat_export(path: Path, dictionary: DataDictionary, setup: ProjectSetup) -> str:
    """The records of the ODM file as REDCap's flat CSV record export of the project (raw codes)."""
    rows = list(_records(path, dictionary, setup))
    layout = setup.export_layout(with_data_access_groups=any(DATA_ACCESS_GROUP in r for r in rows))
    header = dictionary.record_export_columns(layout)
    if any(REPEAT_INSTANCE in r for r in rows) and REPEAT_INSTANCE not in header:  # repeats the setup did not name
        header[1 + layout.longitudinal : 1 + layout.longitudinal] = [REPEAT_INSTRUMENT, REPEAT_INSTANCE]
    header += list(dict.fromkeys(c for r in rows for c in r if c not in header))  # reported as not in the dictionary
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _records(path: Path, dictionary: DataDictionary, setup: ProjectSetup):
    """One dict per flat export row, record by record, in the file's order."""
    record_id = dictionary.record_id_field
    dated = {c for f in dictionary.fields if f.sql_type == "TIMESTAMP" for c in f.export_columns}
    repeating = set(setup.repeating_forms)
    for _event, subject in ElementTree.iterparse(path, events=("end",)):
        if subject.tag != ODM + "SubjectData":
            continue
        common = {record_id: subject.get("SubjectKey", "")}
        group = subject.get(REDCAP + "DataAccessGroup")
        if group:
            common[DATA_ACCESS_GROUP] = group
        events = subject.findall(ODM + "StudyEventData") or [subject]  # a classic project has no events
        for study_event in events:
            event = study_event.get(REDCAP + "UniqueEventName")
            at = {EVENT: event} if event else {}
            event_repeat = study_event.get("StudyEventRepeatKey", "1")
            repeats_event = event in setup.repeating_events or event_repeat != "1"
            row: dict[str, str] = {}
            instances: dict[tuple[str, str], dict[str, str]] = {}
            for form_data in study_event.findall(ODM + "FormData"):
                form = form_data.get("FormOID", "").removeprefix("Form.")
                instance = form_data.get("FormRepeatKey", "1")
                values = {
                    item.get("ItemOID"): _value(item.get("Value", ""), item.get("ItemOID") in dated)
                    for item in form_data.iter(ODM + "ItemData")
                }
                if not repeats_event and ((event or "", form) in repeating or instance != "1"):
                    instances[(form, instance)] = values
                else:
                    row.update(values)
            group = group or row.pop(DATA_ACCESS_GROUP, None)
            if group:
                common[DATA_ACCESS_GROUP] = group
            row.pop(record_id, None)
            if row:
                yield common | at | ({REPEAT_INSTANCE: event_repeat} if repeats_event else {}) | row
            for (form, instance), values in instances.items():
                values.pop(record_id, None)
                yield common | at | {REPEAT_INSTRUMENT: form, REPEAT_INSTANCE: instance} | values
        subject.clear()


def _value(value: str, datetime: bool) -> str:
    return _ISO_DATETIME.sub(r"\1 \2", value) if datetime else value

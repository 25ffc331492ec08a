"""The shapes REDCap writes records in, and the flat export each is read as.

The loader (cartwh.ingest.redcap_loader) reads one shape: REDCap's flat CSV record export with
raw codes and variable names as headers. The others are recognised by what they are and either
turned into that flat export or refused, naming what to export instead:

- CDISC ODM (`.xml`, `<ClinicalData>`): read through cartwh.contract.redcap_odm.flat_export;
- EAV (the API's `type=eav`, PyCap's `record_type="eav"`): one row per value, columns `record`,
  `redcap_event_name`, `redcap_repeat_instrument`, `redcap_repeat_instance` (those the project
  has), `field_name`, `value`; a checkbox's row names the ticked code. Pivoted back into one
  row per record, event and instance, a checkbox into its `field___code` columns (0 for the
  codes not ticked where the form has data, as the flat export writes them);
- a labels export (`rawOrLabelHeaders=label`: "Record ID", "Event Name", each form's status
  column "Complete?", field labels; or REDCap's download name `<Project>_DATA_LABELS_<date>.csv`)
  is refused before its header is read any further (its "Complete?" columns would otherwise read
  as one column twice), with the export setting to change. It is not decoded back: labels need
  not be unique, so decoding could silently pick the wrong code.

A converted file's private flat copy (beside its private copy, in the archive's protected area)
is what the loader reads; the archive keeps the file as it landed. Its rows are numbered as the
flat export of the same records would be (the header is row 1, then one row per record, event
and instance in the file's order), and every problem names them so; the record id, event and
instance of each are in the data manager's report.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from cartwh.contract.redcap import (
    DATA_ACCESS_GROUP,
    EVENT,
    REPEAT_INSTANCE,
    REPEAT_INSTRUMENT,
    DataDictionary,
    ExportLayout,
)
from cartwh.contract.redcap_odm import flat_export
from cartwh.contract.redcap_site import SiteProject
from cartwh.contract.redcap_types import checkbox_export_code
from cartwh.ingest.csv_reader import ExportFile, file_header
from cartwh.ingest.errors import ExportError

LABELS_EXPORT = (
    "a labels export (choice labels instead of raw codes): refused, nothing loaded. Export the records again "
    "as 'CSV / Microsoft Excel (raw data)' (API: rawOrLabel=raw)"
)
# Header cells REDCap writes only in a labels export ("Complete?" heads every form's status column).
LABEL_HEADERS = {
    "record id",
    "event name",
    "repeat instrument",
    "repeat instance",
    "data access group",
    "survey identifier",
    "complete?",
}
EAV_COLUMNS = {"record", "field_name", "value"}


def is_odm(file: ExportFile) -> bool:
    return file.path.suffix.lower() == ".xml"


def record_header(file: ExportFile) -> list[str]:
    """The REDCap source's header of a landed file (files with one header are read as one batch):
    an ODM or EAV export is a batch of its own; a labels export is refused here, before anything
    else is read of it."""
    if is_odm(file):
        return ["<cdisc odm>", file.checksum]
    dictionary = getattr(file.context, "dictionary", None)
    labelled = _labels_header(_first_record(file), file.name, dictionary)
    if labelled is not None:
        raise ExportError(file.name, LABELS_EXPORT, row=1, column=labelled)
    header = file_header(file)
    return ["<eav>", file.checksum] if EAV_COLUMNS <= set(header) else header


def _first_record(file: ExportFile) -> list[str]:
    try:
        with open(file.path, newline="", encoding="utf-8-sig") as handle:
            return next(csv.reader(handle), [])
    except (UnicodeDecodeError, OSError, csv.Error):
        return []  # reading the header says what is wrong with it


def _labels_header(cells: list[str], name: str, dictionary: DataDictionary | None) -> str | None:
    """The first header cell that only a labels export writes, if any. A field's label counts
    only in a header without the record id field (a raw export names its columns by variable)."""
    if "_data_labels_" in name.lower():
        return cells[0].strip() if cells else ""
    named = [c.strip() for c in cells if c.strip().casefold() in LABEL_HEADERS]
    folded = [c.strip().casefold() for c in cells]  # header names compare trimmed and case-folded
    if not named and dictionary is not None and dictionary.record_id_field.casefold() not in folded:
        labels = {f.label.strip().casefold() for f in dictionary.fields if f.label}
        variables = {c.casefold() for f in dictionary.fields for c in f.export_columns}
        named = [c.strip() for c, f in zip(cells, folded, strict=True) if f not in variables and f in labels]
    return named[0] if named else None


def flat_copy(file: ExportFile, project: SiteProject) -> ExportFile:
    """The file as the loader reads it: itself, or a flat copy of an ODM or EAV export."""
    if is_odm(file):
        text = flat_export(file.path, project.dictionary, project.setup)
    elif EAV_COLUMNS <= set(file_header(file)):
        text = _eav_flat(file, project)
    else:
        return file
    flat = file.path.with_name(file.path.name + ".flat.csv")
    flat.write_text(text, encoding="utf-8")
    return replace(file, path=flat)


def _eav_flat(file: ExportFile, project: SiteProject) -> str:
    dictionary = project.dictionary
    with open(file.path, newline="", encoding="utf-8-sig") as handle:
        eav = [{k.strip(): (v or "") for k, v in r.items() if k is not None} for r in csv.DictReader(handle)]
    fields = {f.name: f for f in dictionary.fields}
    forms = {c: f.form for f in dictionary.fields for c in f.export_columns} | {
        f"{form}_complete": form for form in dictionary.forms
    }
    keys = [c for c in (EVENT, REPEAT_INSTRUMENT, REPEAT_INSTANCE) if c in eav[0]] if eav else []
    rows: dict[tuple, dict[str, str]] = {}
    where: dict[tuple, int] = {}
    for number, r in enumerate(eav, start=2):
        key = (r["record"].strip(), *(r[k].strip() for k in keys))
        row = rows.setdefault(key, {dictionary.record_id_field: key[0], **dict(zip(keys, key[1:], strict=True))})
        name, value = r["field_name"].strip(), r["value"]
        if name == dictionary.record_id_field:
            continue
        field = fields.get(name)
        column = f"{name}___{checkbox_export_code(value.strip())}" if field and field.field_type == "checkbox" else name
        value = "1" if field and field.field_type == "checkbox" else value
        if row.get(column, value) != value:
            raise ExportError(
                file.name,
                f"two values of one field for one record, event and instance (rows {where[(key, column)]} "
                f"and {number})",
                row=number,
                column="value",
            )
        row[column], where[(key, column)] = value, number
    for row in rows.values():  # a checkbox's codes not ticked are 0 wherever its form has data
        held = {forms[c] for c in row if c in forms and c != dictionary.record_id_field}
        for f in dictionary.fields:
            if f.field_type == "checkbox" and f.form in held:
                for column in f.export_columns:
                    row.setdefault(column, "0")
    layout = ExportLayout(
        EVENT in keys,
        REPEAT_INSTANCE in keys,
        any(DATA_ACCESS_GROUP in r for r in rows.values()),
        project.setup.survey_forms,
    )
    header = dictionary.record_export_columns(layout)
    header += list(dict.fromkeys(c for r in rows.values() for c in r if c not in header))
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows.values())
    return out.getvalue()

"""The second REDCap layout: a site's own longitudinal project, mapped onto the canonical model.

Everything is derived from the canonical dictionary, so a canonical field added later carries
over: each field is renamed `<prefix><name>` (the record id becomes `participant_id`), each form
`<prefix><form>`; radio codes are the site's own (canonical code x 10), checkbox codes are
letters (A, B, ...: REDCap writes the columns `<field>___a`, ...); a canonical `<analyte>_unit`
with one code is not a site field but a unit declaration of the mapping. The forms are spread
over events as a CAR-T programme schedules them; laboratory and marrow assessments are entered
in a repeating *event* (monitoring visits: one row holds visit k's labs and marrow), bridging
therapy and follow-up events are repeating instruments of their events. `site_project` writes
the dictionary, arms, events, form-event mapping, repeating setup and mapping.yml;
`site_records` re-lays the canonical flat export as the site's export.
"""

from __future__ import annotations

import csv
import io
import json

import pandas as pd

from cartwh.contract.redcap import DATA_ACCESS_GROUP, EVENT, REPEAT_INSTANCE, REPEAT_INSTRUMENT, DataDictionary, Field
from cartwh.contract.redcap_dictionary import UI_TO_API
from cartwh.contract.redcap_types import checkbox_export_code

RECORD_FIELD = "participant_id"
PREFIX = "s_"
ARM = 1
# (event, its canonical forms, label); a canonical form not listed goes to screening (or, if it
# repeats, to the monitoring visits).
EVENTS = (
    ("screening_arm_1", "Screening", ("demographics", "disease_history")),
    ("apheresis_arm_1", "Apheresis", ("leukapheresis", "bridging_therapy")),
    ("infusion_arm_1", "Infusion", ("lymphodepletion_infusion", "toxicity")),
    ("day_28_arm_1", "Day 28", ("response_d28",)),
    ("monitoring_arm_1", "Monitoring visit", ("laboratory", "marrow_assessment")),
    ("follow_up_arm_1", "Follow-up", ("follow_up_status", "follow_up_event")),
)
REPEATING_EVENT = "monitoring_arm_1"
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def site_name(field: str, dictionary: DataDictionary) -> str:
    return RECORD_FIELD if field == dictionary.record_id_field else PREFIX + field


def site_codes(field: Field) -> dict[str, str]:
    """Canonical code -> the site's code (identity where the site kept the canonical codes)."""
    if field.field_type == "radio" and all(code.isdigit() for code, _ in field.choices):
        return {code: str(int(code) * 10) for code, _ in field.choices}
    if field.field_type == "checkbox":
        return {code: _LETTERS[i] for i, (code, _) in enumerate(field.choices)}
    return {code: code for code, _ in field.choices}


def declared_units(dictionary: DataDictionary) -> dict[str, str]:
    """Canonical unit field -> its one code: declared in the mapping instead of entered."""
    names = {f.name for f in dictionary.fields}
    return {
        f.name: f.choices[0][0]
        for f in dictionary.fields
        if f.name.endswith("_unit") and len(f.choices) == 1 and f.name.removesuffix("_unit") + "_value" in names
    }


def event_forms(dictionary: DataDictionary) -> list[tuple[str, str, tuple[str, ...]]]:
    placed = {form for _, _, forms in EVENTS for form in forms}
    extra = [f for f in dictionary.forms if f not in placed]
    events = []
    for event, label, forms in EVENTS:
        forms = tuple(f for f in forms if f in dictionary.forms)
        if event == "screening_arm_1":
            forms += tuple(f for f in extra if f not in dictionary.repeating_forms)
        if event == REPEATING_EVENT:
            forms += tuple(f for f in extra if f in dictionary.repeating_forms)
        events.append((event, label, forms))
    return events


def _repeating_instruments(dictionary: DataDictionary) -> dict[str, str]:
    """Canonical repeating form -> the event it repeats in as an instrument (not the repeating event)."""
    return {
        form: event
        for event, _, forms in event_forms(dictionary)
        if event != REPEATING_EVENT
        for form in forms
        if form in dictionary.repeating_forms
    }


def _site_fields(dictionary: DataDictionary) -> list[Field]:
    return [f for f in dictionary.fields if f.name not in declared_units(dictionary)]


def site_project(dictionary: DataDictionary) -> dict[str, str]:
    """File name -> content of the site's metadata files (as `cartwh pull` writes them) and mapping."""
    ui_header = list(UI_TO_API)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ui_header)
    for f in _site_fields(dictionary):
        codes = site_codes(f)
        choices = " | ".join(f"{codes[code]}, {label}" for code, label in f.choices)
        low = f.date_min or ("" if f.minimum is None else f"{f.minimum:g}")
        high = f.date_max or ("" if f.maximum is None else f"{f.maximum:g}")
        row = {
            "Variable / Field Name": site_name(f.name, dictionary),
            "Form Name": PREFIX + f.form,
            "Field Type": f.field_type,
            "Field Label": f.label,
            "Choices, Calculations, OR Slider Labels": choices,
            "Text Validation Type OR Show Slider Number": f.validation,
            "Text Validation Min": low,
            "Text Validation Max": high,
            "Identifier?": "y" if f.identifier else "",
        }
        writer.writerow([row.get(column, "") for column in ui_header])
    events = event_forms(dictionary)
    files = {
        "dictionary.csv": out.getvalue(),
        "arms.json": json.dumps([{"arm_num": ARM, "name": "CAR-T"}]),
        "events.json": json.dumps(
            [
                {"event_name": label, "arm_num": ARM, "unique_event_name": event, "custom_event_label": ""}
                for event, label, _ in events
            ]
        ),
        "form_event_mapping.json": json.dumps(
            [
                {"arm_num": ARM, "unique_event_name": event, "form": PREFIX + form}
                for event, _, forms in events
                for form in forms
            ]
        ),
        "repeating_forms_events.json": json.dumps(
            [{"event_name": REPEATING_EVENT, "form_name": "", "custom_form_label": ""}]
            + [
                {"event_name": event, "form_name": PREFIX + form, "custom_form_label": ""}
                for form, event in _repeating_instruments(dictionary).items()
            ]
        ),
        "mapping.yml": mapping_yaml(dictionary),
    }
    return files


def mapping_yaml(dictionary: DataDictionary) -> str:
    """The reviewed mapping a data manager would write for this project (every field mapped)."""
    lines = ["# Site project -> canonical CAR-T dictionary (written by cartwh generate)", "fields:"]
    for f in _site_fields(dictionary):
        if f.name == dictionary.record_id_field:
            continue
        codes = {site: canonical for canonical, site in site_codes(f).items() if site != canonical}
        if codes:
            lines.append(f"  {site_name(f.name, dictionary)}:")
            lines.append(f"    to: {f.name}")
            lines.append("    choices: {" + ", ".join(f'"{s}": "{c}"' for s, c in codes.items()) + "}")
        else:
            lines.append(f"  {site_name(f.name, dictionary)}: {f.name}")
    lines.append("events:")
    lines += [f"  {event}: [{', '.join(forms)}]" for event, _, forms in event_forms(dictionary)]
    units = declared_units(dictionary)
    if units:
        lines.append("units:")
        lines += [f'  {PREFIX}{unit.removesuffix("_unit")}_value: "{code}"' for unit, code in units.items()]
    return "\n".join(lines) + "\n"


def site_records(records: pd.DataFrame, dictionary: DataDictionary) -> pd.DataFrame:
    """The canonical flat export (cartwh.generate.redcap_export) as the site's longitudinal export:
    one row per record and event with data, a row per instance of the repeating instruments, and
    monitoring visit k holding the k-th laboratory and the k-th marrow assessment."""
    record_id = dictionary.record_id_field
    instrument_event = _repeating_instruments(dictionary)
    # As text, as REDCap writes it: a column with gaps must not turn its integers into floats.
    records = records.apply(lambda column: column.map(_text))
    rename = {}
    for f in _site_fields(dictionary):
        codes, name = site_codes(f), site_name(f.name, dictionary)
        if f.field_type == "checkbox":
            rename |= {
                column: f"{name}___{checkbox_export_code(codes[code])}"
                for (code, _), column in zip(f.choices, f.export_columns, strict=True)
            }
        else:
            rename[f.name] = name
    for form in dictionary.forms:
        rename[f"{form}_complete"] = f"{PREFIX}{form}_complete"
    recoders = {site_name(f.name, dictionary): site_codes(f) for f in dictionary.fields if f.field_type == "radio"}
    rows = []
    base = records[records[REPEAT_INSTRUMENT].isna()]
    for order, (_, record) in enumerate(base.iterrows()):
        rid, dag = record[record_id], record.get(DATA_ACCESS_GROUP)
        mine = records[records[record_id] == rid]
        for event, _, forms in event_forms(dictionary):
            keys = {record_id: rid, EVENT: event, DATA_ACCESS_GROUP: dag, "_order": order}
            if event == REPEATING_EVENT:
                visits: dict[int, dict] = {}
                for form in forms:
                    for _, r in mine[mine[REPEAT_INSTRUMENT] == form].iterrows():
                        visits.setdefault(int(r[REPEAT_INSTANCE]), {}).update(_form_values(r, form, dictionary))
                rows += [{**keys, REPEAT_INSTANCE: k, **values} for k, values in sorted(visits.items())]
                continue
            values = {}
            for form in forms:
                if form in instrument_event:
                    for _, r in mine[mine[REPEAT_INSTRUMENT] == form].iterrows():
                        rows.append(
                            {
                                **keys,
                                REPEAT_INSTRUMENT: PREFIX + form,
                                REPEAT_INSTANCE: int(r[REPEAT_INSTANCE]),
                                **_form_values(r, form, dictionary),
                            }
                        )
                else:
                    values |= _form_values(record, form, dictionary)
            if any(pd.notna(v) for c, v in values.items() if not c.endswith("_complete")):
                rows.append({**keys, **values})
    frame = pd.DataFrame(rows)
    for column in (REPEAT_INSTRUMENT, REPEAT_INSTANCE):  # an export without repeating rows has neither
        frame[column] = frame[column] if column in frame else None
    frame["_event"] = frame[EVENT].map({e: i for i, (e, _, _) in enumerate(event_forms(dictionary))})
    frame["_instrument"] = frame[REPEAT_INSTRUMENT].notna()
    frame = frame.sort_values(["_order", "_event", "_instrument", REPEAT_INSTANCE], kind="stable", na_position="first")
    frame = frame.rename(columns=rename)
    for column, codes in recoders.items():
        if column in frame:
            frame[column] = frame[column].map(lambda v, codes=codes: codes.get(v, v) if pd.notna(v) else v)
    frame = frame.rename(columns={record_id: RECORD_FIELD})
    header = [RECORD_FIELD, EVENT, REPEAT_INSTRUMENT, REPEAT_INSTANCE, DATA_ACCESS_GROUP]
    header += [
        rename[c]
        for form in dictionary.forms
        for f in _site_fields(dictionary)
        if f.form == form and f.name != record_id
        for c in f.export_columns
    ]
    header = _with_completes(header, dictionary)
    frame[REPEAT_INSTANCE] = pd.array(frame[REPEAT_INSTANCE], dtype="Int64")
    return frame.reindex(columns=header).reset_index(drop=True)


def _text(value) -> str | None:
    if pd.isna(value):
        return None
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _with_completes(header: list[str], dictionary: DataDictionary) -> list[str]:
    """REDCap's order: each form's columns, then its `<form>_complete`."""
    out = header[:5]
    for form in dictionary.forms:
        out += [
            c
            for c in header[5:]
            if any(c == PREFIX + f.name or c.startswith(PREFIX + f.name + "___") for f in dictionary.form_fields(form))
        ]
        out.append(f"{PREFIX}{form}_complete")
    return out


def _form_values(row: pd.Series, form: str, dictionary: DataDictionary) -> dict:
    columns = [
        c
        for f in _site_fields(dictionary)
        if f.form == form and f.name != dictionary.record_id_field
        for c in f.export_columns
    ]
    return {c: row[c] for c in [*columns, f"{form}_complete"] if c in row.index}

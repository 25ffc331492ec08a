"""Read a REDCap project's data dictionary in any of the shapes REDCap writes it.

- the CSV downloaded from the Online Designer ("Variable / Field Name", "Form Name", ...), with
  the UTF-8 byte order mark REDCap puts in front;
- the API's metadata export (`content=metadata`, what PyCap's `export_metadata` returns) as CSV
  or JSON, whose columns are the snake_case names (`field_name`, `form_name`, ...);
- the ItemDefs and CodeLists of a CDISC ODM file (cartwh.contract.redcap_odm.dictionary_rows).

A dictionary that cannot describe a project fails whole, with the file, the row (the header is
row 1; in JSON, the entry number) and the column: no field-name column, an empty or duplicate
field name, a field type REDCap does not have, a choice list that does not parse.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from functools import cache
from pathlib import Path

from cartwh.contract.redcap import DICTIONARY_PATH, DataDictionary, Field
from cartwh.contract.redcap_types import CHOICE_FIELD_TYPES, FIELD_TYPES, NO_DATA_FIELD_TYPES, checkbox_export_code

# The UI download's header -> the API's name for the same column.
UI_TO_API = {
    "Variable / Field Name": "field_name",
    "Form Name": "form_name",
    "Section Header": "section_header",
    "Field Type": "field_type",
    "Field Label": "field_label",
    "Choices, Calculations, OR Slider Labels": "select_choices_or_calculations",
    "Field Note": "field_note",
    "Text Validation Type OR Show Slider Number": "text_validation_type_or_show_slider_number",
    "Text Validation Min": "text_validation_min",
    "Text Validation Max": "text_validation_max",
    "Identifier?": "identifier",
    "Branching Logic (Show field only if...)": "branching_logic",
    "Required Field?": "required_field",
    "Custom Alignment": "custom_alignment",
    "Question Number (surveys only)": "question_number",
    "Matrix Group Name": "matrix_group_name",
    "Matrix Ranking?": "matrix_ranking",
    "Field Annotation": "field_annotation",
}
_API_TO_UI = {api: ui for ui, api in UI_TO_API.items()}
_NUMERIC_RANGE_TYPES = {"DOUBLE", "BIGINT"}  # a date's min/max ("2020-01-01", "today") is no number
# REDCap's rule for variable (field), instrument (form) and unique event names. Ingestion names
# tables and columns after them, so a name outside it never reaches SQL.
REDCAP_NAME = re.compile(r"[a-z][a-z0-9_]*")


class MetadataError(ValueError):
    """Project metadata (dictionary, events, arms, mapping) that cannot be read; nothing of it is
    used. Worded like cartwh.ingest.errors.ExportError: file, row, column."""

    def __init__(self, file: str, message: str, row: int | None = None, column: str | None = None):
        self.file, self.row, self.column = file, row, column
        where = ", ".join(p for p in (f"row {row}" if row else "", f"column '{column}'" if column else "") if p)
        super().__init__(f"{file}{' (' + where + ')' if where else ''}: {message}")


@cache
def project_dictionary() -> DataDictionary:
    """The shipped project's dictionary (cartwh.contract.redcap.DICTIONARY_PATH), read once."""
    return read_dictionary(DICTIONARY_PATH)


def read_dictionary(path: Path, name: str | None = None) -> DataDictionary:
    """A dictionary as REDCap writes it: the UI's CSV download, or the API's metadata as CSV or
    JSON (errors name the file, row and column). `name` is how errors call the file (its landed
    name); by default its path."""
    return parse_dictionary(Path(path).read_bytes(), name or str(path), json_text=Path(path).suffix.lower() == ".json")


def parse_dictionary(content: bytes, name: str, json_text: bool = False) -> DataDictionary:
    text = content.decode("utf-8-sig")
    rows, spelling = _json_rows(text, name) if json_text else _csv_rows(text, name)
    return dictionary_from_rows(rows, name, spelling)


def dictionary_from_rows(
    rows: list[tuple[int, dict]], name: str, spelling: dict[str, str] | None = None
) -> DataDictionary:
    """The dictionary of (row number, row) pairs with the API's column names, however they were
    written (a CSV, the API's JSON, an ODM file's ItemDefs); `spelling`: how the file names each
    column, for errors."""
    spelling = spelling or {}
    fields, seen = [], {}
    for row_number, row in rows:

        def cell(api_name: str, row: dict = row) -> str:
            return str(row.get(api_name) or "").strip()

        def fail(api_name: str, message: str, row_number: int = row_number) -> MetadataError:
            return MetadataError(name, message, row=row_number, column=spelling.get(api_name, api_name))

        field_name, field_type = cell("field_name"), cell("field_type")
        if not field_name:
            raise fail("field_name", "empty field name")
        if not REDCAP_NAME.fullmatch(field_name):
            raise fail(
                "field_name", f"{shown(field_name)} is not a REDCap variable name (lower-case letters, digits, _)"
            )
        if field_name in seen:
            raise fail("field_name", f"field '{field_name}' is defined twice (first in row {seen[field_name]})")
        seen[field_name] = row_number
        if not cell("form_name"):
            raise fail("form_name", f"field '{field_name}' has no form")
        if not REDCAP_NAME.fullmatch(cell("form_name")):
            raise fail(
                "form_name",
                f"form {shown(cell('form_name'))} of field '{field_name}' is not a REDCap instrument name "
                "(lower-case letters, digits, _): the dictionary is refused",
            )
        if field_type not in FIELD_TYPES:
            raise fail("field_type", f"'{field_type}' is not a REDCap field type ({', '.join(sorted(FIELD_TYPES))})")
        if field_type in NO_DATA_FIELD_TYPES:
            continue
        try:
            choice_text = cell("select_choices_or_calculations")
            choices = parse_choice_list(choice_text) if field_type in CHOICE_FIELD_TYPES else ()
        except ValueError as error:
            raise fail("select_choices_or_calculations", f"choices of '{field_name}' do not parse: {error}") from None
        field = Field(
            name=field_name,
            form=cell("form_name"),
            field_type=field_type,
            label=cell("field_label"),
            choices=choices,
            validation=cell("text_validation_type_or_show_slider_number"),
            minimum=None,
            maximum=None,
            identifier=cell("identifier").lower() == "y",
            required=cell("required_field").lower() == "y",
        )
        if field.is_dated:  # resolved when rows are checked ('today' is the day of the load)
            field = replace(field, date_min=cell("text_validation_min"), date_max=cell("text_validation_max"))
        elif field.sql_type in _NUMERIC_RANGE_TYPES and field_type != "slider":
            try:
                field = _with_range(field, cell("text_validation_min"), cell("text_validation_max"))
            except ValueError:
                raise fail("text_validation_min", f"the range of '{field_name}' is not numeric") from None
        fields.append(field)
    if not fields:
        raise MetadataError(name, "the dictionary defines no field")
    return DataDictionary(tuple(fields))


def shown(name: str) -> str:
    """A name from outside quoted in a message, on one line whatever it holds."""
    return repr(name) if not name.isprintable() else f"'{name}'"


def parse_choice_list(text: str) -> tuple[tuple[str, str], ...]:
    """REDCap's 'code, label | code, label' list, strictly: every item needs a code, a code is
    listed once, and two codes may not fall into one checkbox column (REDCap lower-cases codes and
    drops other characters in column names). An item without a comma is its own code and label,
    as REDCap reads it."""
    items = [part.strip() for part in text.split("|")]
    while items and not items[-1]:  # a trailing '|', which REDCap tolerates
        items.pop()
    if not items:
        raise ValueError("the field has no choices")
    choices, columns = [], {}
    for position, item in enumerate(items, start=1):
        if not item:
            raise ValueError(f"choice {position} is empty")
        code, comma, label = (part.strip() for part in item.partition(","))
        if not code:
            raise ValueError(f"choice {position} ('{item}') has no code")
        column = checkbox_export_code(code)
        if column in columns:
            raise ValueError(f"codes '{columns[column]}' and '{code}' are the same code in REDCap's exports")
        columns[column] = code
        choices.append((code, label if comma else code))
    return tuple(choices)


def _with_range(field: Field, low: str, high: str) -> Field:
    number = lambda text: float(field.value_rule.sql_text(text)) if text else None  # noqa: E731 ("0,5" too)
    return replace(field, minimum=number(low), maximum=number(high))


def _csv_rows(text: str, name: str) -> tuple[list[tuple[int, dict]], dict[str, str]]:
    """The rows (numbered as a spreadsheet shows them) and how the file spells each column."""
    rows = list(csv.reader(io.StringIO(text)))
    while rows and not any(cell.strip() for cell in rows[-1]):  # blank lines after the last field
        rows.pop()
    if not rows:
        raise MetadataError(name, "empty file: not a REDCap data dictionary")
    spelled = [cell.strip() for cell in rows[0]]
    header = [UI_TO_API.get(cell, cell) for cell in spelled]
    if "field_name" not in header:
        raise MetadataError(
            name, "no 'Variable / Field Name' (or API 'field_name') column: not a REDCap data dictionary", row=1
        )
    body = [
        (number, dict(zip(header, row, strict=False)))
        for number, row in enumerate(rows[1:], start=2)
        if any(cell.strip() for cell in row)
    ]
    return body, dict(zip(header, spelled, strict=True))


def _json_rows(text: str, name: str) -> tuple[list[tuple[int, dict]], dict[str, str]]:
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as error:
        raise MetadataError(name, f"not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise MetadataError(name, "not the API's metadata (a JSON list of fields)")
    if entries and not any("field_name" in e for e in entries):
        raise MetadataError(name, "no 'field_name' key: not the API's metadata", row=1)
    return list(enumerate(entries, start=1)), {}

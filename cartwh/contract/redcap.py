"""The REDCap data dictionary: how each exported column is typed, decoded and validated.

The dictionary is the real REDCap CSV format; the project ships the one for its "CAR-T
monitoring" project (`redcap_data_dictionary.csv`). Ingestion derives everything about a
record export from it: which form a column belongs to, its SQL type, its choices, its
validation range, and whether it identifies a patient.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DICTIONARY_PATH = Path(__file__).with_name("redcap_data_dictionary.csv")

RECORD_ID = "record_id"
REPEAT_INSTRUMENT = "redcap_repeat_instrument"
REPEAT_INSTANCE = "redcap_repeat_instance"
DATA_ACCESS_GROUP = "redcap_data_access_group"
EXPORT_META_COLUMNS = (RECORD_ID, REPEAT_INSTRUMENT, REPEAT_INSTANCE, DATA_ACCESS_GROUP)

# REDCap exports dates as ISO text whatever the entry format.
_DATE_VALIDATIONS = {"date_ymd", "date_mdy", "date_dmy"}
_DATETIME_VALIDATIONS = {"datetime_ymd", "datetime_mdy", "datetime_dmy",
                         "datetime_seconds_ymd", "datetime_seconds_mdy", "datetime_seconds_dmy"}
_INTEGER_VALIDATIONS = {"integer"}
_NUMBER_VALIDATIONS = {"number", "number_1dp", "number_2dp", "number_3dp", "number_4dp"}
_NO_DATA_FIELD_TYPES = {"descriptive"}


@dataclass(frozen=True)
class Field:
    name: str
    form: str
    field_type: str
    label: str
    choices: tuple[tuple[str, str], ...]
    validation: str
    minimum: float | None
    maximum: float | None
    identifier: bool

    @property
    def sql_type(self) -> str:
        if self.field_type in ("yesno", "truefalse"):
            return "BOOLEAN"
        if self.field_type == "calc":
            return "DOUBLE"
        if self.validation in _DATE_VALIDATIONS:
            return "DATE"
        if self.validation in _DATETIME_VALIDATIONS:
            return "TIMESTAMP"
        if self.validation in _INTEGER_VALIDATIONS:
            return "BIGINT"
        if self.validation in _NUMBER_VALIDATIONS:
            return "DOUBLE"
        return "VARCHAR"

    @property
    def export_columns(self) -> tuple[str, ...]:
        """Columns this field occupies in a flat record export (checkboxes fan out)."""
        if self.field_type == "checkbox":
            return tuple(f"{self.name}___{code}" for code, _ in self.choices)
        return (self.name,)

    @property
    def is_coded(self) -> bool:
        return self.field_type in ("radio", "dropdown")


def parse_choices(text: str) -> tuple[tuple[str, str], ...]:
    """'1, Male | 2, Female' -> (('1', 'Male'), ('2', 'Female')). Labels may hold commas."""
    choices = []
    for item in filter(None, (part.strip() for part in (text or "").split("|"))):
        code, _, label = item.partition(",")
        choices.append((code.strip(), label.strip()))
    return tuple(choices)


def _number(text: str) -> float | None:
    return float(text) if text and text.strip() else None


@dataclass(frozen=True)
class DataDictionary:
    fields: tuple[Field, ...]

    @classmethod
    def read(cls, path: Path = DICTIONARY_PATH) -> DataDictionary:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
        header, body = rows[0], rows[1:]
        col = {name: i for i, name in enumerate(header)}
        fields = []
        for row in body:
            get = lambda name, row=row: row[col[name]].strip() if col.get(name) is not None else ""  # noqa: E731
            if get("Field Type") in _NO_DATA_FIELD_TYPES:
                continue
            fields.append(
                Field(
                    name=get("Variable / Field Name"),
                    form=get("Form Name"),
                    field_type=get("Field Type"),
                    label=get("Field Label"),
                    choices=parse_choices(get("Choices, Calculations, OR Slider Labels")),
                    validation=get("Text Validation Type OR Show Slider Number"),
                    minimum=_number(get("Text Validation Min")),
                    maximum=_number(get("Text Validation Max")),
                    identifier=get("Identifier?").lower() == "y",
                )
            )
        return cls(tuple(fields))

    @property
    def forms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.form for f in self.fields))

    def form_fields(self, form: str) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.form == form and f.name != RECORD_ID)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def export_header(self) -> list[str]:
        """The column order of REDCap's flat CSV record export for this project."""
        header = list(EXPORT_META_COLUMNS)
        for form in self.forms:
            header += [c for f in self.form_fields(form) for c in f.export_columns]
            header.append(f"{form}_complete")
        return header


@cache
def project_dictionary() -> DataDictionary:
    return DataDictionary.read()


# Forms entered once per patient vs. the repeating instruments (one row per instance).
REPEATING_FORMS = ("bridging_therapy", "marrow_assessment", "laboratory", "follow_up_event")

"""The REDCap data dictionary: how each exported column is typed, decoded and validated.

The dictionary is the real REDCap CSV format; the project ships the one for its "CAR-T
monitoring" project (`redcap_data_dictionary.csv`). Ingestion derives everything about a
record export from it: which form a column belongs to, its SQL type, its choices, its
validation range, and whether it identifies a patient. What a dictionary is lives here; reading
one, the shipped one (`project_dictionary`) or any other project's as the UI or the API writes
it, is cartwh.contract.redcap_dictionary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cartwh.contract.redcap_types import ValueRule, checkbox_export_code, value_rule

DICTIONARY_PATH = Path(__file__).with_name("redcap_data_dictionary.csv")

RECORD_ID = "record_id"
EVENT = "redcap_event_name"  # longitudinal projects only
REPEAT_INSTRUMENT = "redcap_repeat_instrument"
REPEAT_INSTANCE = "redcap_repeat_instance"
DATA_ACCESS_GROUP = "redcap_data_access_group"
EXPORT_META_COLUMNS = (RECORD_ID, REPEAT_INSTRUMENT, REPEAT_INSTANCE, DATA_ACCESS_GROUP)


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
    # A date or date-time field's Text Validation Min/Max as written ('2015-01-01', 'today'):
    # resolved when rows are checked, so 'today' means the day of the load.
    date_min: str = ""
    date_max: str = ""
    required: bool = False  # "Required Field?": REDCap asks for it at entry (not enforced here)

    @property
    def is_dated(self) -> bool:
        return self.sql_type in ("DATE", "TIMESTAMP")

    @property
    def value_rule(self) -> ValueRule:
        return value_rule(self.field_type, self.validation)

    @property
    def sql_type(self) -> str:
        return self.value_rule.sql_type

    @property
    def export_columns(self) -> tuple[str, ...]:
        """Columns this field occupies in a flat record export (checkboxes fan out, one column per
        code, written as REDCap formats codes in column names)."""
        if self.field_type == "checkbox":
            return tuple(f"{self.name}___{checkbox_export_code(code)}" for code, _ in self.choices)
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


@dataclass(frozen=True)
class ExportLayout:
    """The project settings that decide which columns a flat record export has besides the
    fields (they are not in the dictionary: cartwh.contract.redcap_project reads them)."""

    longitudinal: bool = False  # redcap_event_name
    repeating: bool = False  # redcap_repeat_instrument, redcap_repeat_instance
    data_access_groups: bool = False  # redcap_data_access_group (exportDataAccessGroups)
    survey_forms: tuple[str, ...] = ()  # redcap_survey_identifier and <form>_timestamp (exportSurveyFields)


@dataclass(frozen=True)
class DataDictionary:
    fields: tuple[Field, ...]

    @property
    def forms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.form for f in self.fields))

    def form_fields(self, form: str) -> tuple[Field, ...]:
        """The form's fields, without the record id (REDCap's first field, in every row)."""
        return tuple(f for f in self.fields if f.form == form and f.name != self.record_id_field)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def repeating_forms(self) -> tuple[str, ...]:
        """The forms that repeat when nothing else says so: the shipped project's four."""
        return tuple(f for f in REPEATING_FORMS if f in self.forms)

    @property
    def record_id_field(self) -> str:
        """REDCap's record identifier is the dictionary's first field, whatever its name."""
        return self.fields[0].name

    def export_header(self) -> list[str]:
        """The columns the loader expects of the shipped project's flat record export (its four
        meta columns always; for any project, REDCap's own layout is `record_export_columns`)."""
        header = [self.record_id_field, *EXPORT_META_COLUMNS[1:]]
        for form in self.forms:
            header += [c for f in self.form_fields(form) for c in f.export_columns]
            header.append(f"{form}_complete")
        return header

    def record_export_columns(self, layout: ExportLayout = ExportLayout()) -> list[str]:
        """The header REDCap writes for a flat, raw record export of all fields of this project:
        the record id, then the event, repeat and group columns its settings add, then each form
        in dictionary order: its survey timestamp, its fields' columns, `<form>_complete`."""
        record_id = self.record_id_field
        header = [record_id]
        header += [EVENT] if layout.longitudinal else []
        header += ["redcap_repeat_instrument", "redcap_repeat_instance"] if layout.repeating else []
        header += ["redcap_data_access_group"] if layout.data_access_groups else []
        header += ["redcap_survey_identifier"] if layout.survey_forms else []
        for form in self.forms:
            header += [f"{form}_timestamp"] if form in layout.survey_forms else []
            header += [c for f in self.fields if f.form == form and f.name != record_id for c in f.export_columns]
            header.append(f"{form}_complete")
        return header


# Forms entered once per patient vs. the repeating instruments (one row per instance).
REPEATING_FORMS = ("bridging_therapy", "marrow_assessment", "laboratory", "follow_up_event")

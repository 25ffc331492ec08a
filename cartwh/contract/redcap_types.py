"""What a REDCap field's exported value is: its SQL type and the rule a raw value must meet.

REDCap's raw (coded) record export writes every date as ISO text whatever the entry format
(`date_dmy` is entered 31-12-2024 and exported 2024-12-31), datetimes as `YYYY-MM-DD HH:MM`
(`:SS` for the `datetime_seconds_*` types), and numbers validated "comma as decimal" with
their comma (`1,54`). The patterns below describe those exported texts, not the entry masks.
They are plain regular expressions that Python's `re` and DuckDB's `regexp_full_match` read
alike, so the loader can check values in SQL with the same rule the tests check here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DATE = r"\d{4}-\d{2}-\d{2}"
_NUMBER = r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"
_COMMA_NUMBER = r"[+-]?(\d+(,\d*)?|,\d+)"


@dataclass(frozen=True)
class ValueRule:
    sql_type: str  # DuckDB type of the raw column
    pattern: str | None = None  # what an exported value must look like (None: any text)
    decimal_comma: bool = False  # the value's decimal mark is a comma: swap before casting

    def matches(self, value: str) -> bool:
        return self.pattern is None or re.fullmatch(self.pattern, value.strip()) is not None

    def sql_text(self, value: str) -> str:
        """The exported text in the form DuckDB casts to `sql_type` ("1,54" -> "1.54")."""
        return value.strip().replace(",", ".") if self.decimal_comma else value.strip()


TEXT = ValueRule("VARCHAR")

# Every text validation type REDCap offers (Online Designer, "Validation?" list). A type a
# project adds through an external module is not here: it is read as text (see value_rule).
VALIDATION_RULES: dict[str, ValueRule] = {
    **{f"date_{order}": ValueRule("DATE", _DATE) for order in ("ymd", "mdy", "dmy")},
    **{f"datetime_{order}": ValueRule("TIMESTAMP", _DATE + r" \d{2}:\d{2}") for order in ("ymd", "mdy", "dmy")},
    **{
        f"datetime_seconds_{order}": ValueRule("TIMESTAMP", _DATE + r" \d{2}:\d{2}:\d{2}")
        for order in ("ymd", "mdy", "dmy")
    },
    "time": ValueRule("TIME", r"\d{2}:\d{2}"),
    "time_hh_mm_ss": ValueRule("TIME", r"\d{2}:\d{2}:\d{2}"),
    # Minutes and seconds of a duration, not a time of day: a TIME cast would read MM as hours.
    "time_mm_ss": ValueRule("VARCHAR", r"\d{2}:\d{2}"),
    "integer": ValueRule("BIGINT", r"[+-]?\d+"),
    "number": ValueRule("DOUBLE", _NUMBER),
    **{f"number_{n}dp": ValueRule("DOUBLE", rf"[+-]?\d+\.\d{{{n}}}") for n in (1, 2, 3, 4)},
    "number_comma_decimal": ValueRule("DOUBLE", _COMMA_NUMBER, decimal_comma=True),
    **{
        f"number_{n}dp_comma_decimal": ValueRule("DOUBLE", rf"[+-]?\d+,\d{{{n}}}", decimal_comma=True)
        for n in (1, 2, 3, 4)
    },
    "alpha_only": ValueRule("VARCHAR", r"[A-Za-z]+"),
    "email": ValueRule("VARCHAR", r"[^@\s]+@[^@\s]+\.[^@\s]+"),
    "phone": ValueRule("VARCHAR", r"\(?\d{3}\)?[-. ]?\d{3}[-. ]?\d{4}( *(x|ext\.?) *\d+)?"),
    "phone_australia": ValueRule("VARCHAR", r"\(?0\d\)?[ -]?\d{4}[ -]?\d{4}"),
    "zipcode": ValueRule("VARCHAR", r"\d{5}(-\d{4})?"),
    "postalcode_australia": ValueRule("VARCHAR", r"\d{4}"),
    "postalcode_canada": ValueRule("VARCHAR", r"[A-Za-z]\d[A-Za-z] ?\d[A-Za-z]\d"),
    "postalcode_french": ValueRule("VARCHAR", r"\d{5}"),
    "postalcode_germany": ValueRule("VARCHAR", r"\d{5}"),
    "ssn": ValueRule("VARCHAR", r"\d{3}-\d{2}-\d{4}"),
    "mrn_10d": ValueRule("VARCHAR", r"\d{10}"),
    "mrn_generic": ValueRule("VARCHAR", r"[A-Za-z0-9\-]+"),
    "vmrn": ValueRule("VARCHAR", r"\d{4,9}"),
}

# Field types whose value does not depend on a text validation.
FIELD_TYPE_RULES: dict[str, ValueRule] = {
    "yesno": ValueRule("BOOLEAN", r"[01]"),
    "truefalse": ValueRule("BOOLEAN", r"[01]"),
    "calc": ValueRule("DOUBLE", _NUMBER),
    "slider": ValueRule("BIGINT", r"[+-]?\d+"),  # the Validation column means "show the number" here
}

# A checkbox field is text at field level (raw.redcap_fields); each of its field___code columns is 0 or 1.
CHECKBOX_COLUMN_RULE = ValueRule("BOOLEAN", r"[01]")

# The types whose Choices column lists "code, label" pairs; for calc it holds the formula,
# for slider the three labels under the bar, for sql the query that makes the choices.
CHOICE_FIELD_TYPES = frozenset({"radio", "dropdown", "checkbox"})

# Every field type REDCap's dictionary can hold; `descriptive` carries no data.
FIELD_TYPES = frozenset(
    {
        "text",
        "notes",
        "dropdown",
        "radio",
        "checkbox",
        "yesno",
        "truefalse",
        "calc",
        "slider",
        "file",
        "descriptive",
        "sql",
    }
)
NO_DATA_FIELD_TYPES = frozenset({"descriptive"})


def value_rule(field_type: str, validation: str) -> ValueRule:
    if field_type in FIELD_TYPE_RULES:
        return FIELD_TYPE_RULES[field_type]
    if field_type == "text":
        return VALIDATION_RULES.get(validation, TEXT)
    return TEXT  # notes, radio, dropdown (checked against their codes), file (a name), sql


def checkbox_export_code(code: str) -> str:
    """The code as REDCap writes it in a checkbox column name (`field___<code>`): '-' and '.'
    become '_', then the code is lower-cased and anything outside [a-z0-9_] is dropped (REDCap's
    Project::getExtendedCheckboxCodeFormatted). So code `ABC` exports as `field___abc` and
    `-1` as `field____1`."""
    return re.sub(r"[^a-z_0-9]", "", code.replace("-", "_").replace(".", "_").lower())

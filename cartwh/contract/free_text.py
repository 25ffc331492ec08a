"""Free text is an identifier until proven otherwise.

A REDCap field a person types anything into (`text` without a validation type, or `notes`) may
hold a name, a phone number or a story that identifies the patient. It is loaded only when it
is on the reviewed allow-list `free_text_allowed.csv`, each entry with the reason it is safe;
any other is left out of raw with a header note. A field the dictionary gives a validation type
(date, number, ...) or a choice list is not free text.
"""

from __future__ import annotations

import csv
import re
from functools import cache
from pathlib import Path

from cartwh.contract.redcap import RECORD_ID, Field

ALLOW_LIST_PATH = Path(__file__).with_name("free_text_allowed.csv")
FREE_TEXT_TYPES = ("text", "notes")


def is_free_text(field: Field) -> bool:
    """Typed without constraint: not the record id, not an identifier (those never load anyway)."""
    return (
        field.field_type in FREE_TEXT_TYPES
        and not field.validation
        and not field.identifier
        and field.name != RECORD_ID
    )


@cache
def allowed_free_text(path: Path = ALLOW_LIST_PATH) -> frozenset[str]:
    """Fields of the reviewed allow-list; an entry without a reason is a mistake, not a review."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    unreasoned = [r["field"] for r in rows if not (r.get("why_it_is_safe") or "").strip()]
    if unreasoned:
        raise ValueError(f"{path.name}: allowed free-text field(s) without a reason: {', '.join(unreasoned)}")
    return frozenset(r["field"].strip() for r in rows)


# Text validations whose values are contact details or identifiers by definition (a site's own
# project may use them): never loaded, like free text, whatever the Identifier? column says.
IDENTIFYING_VALIDATIONS = frozenset(
    {
        "email",
        "phone",
        "phone_australia",
        "ssn",
        "mrn_10d",
        "mrn_generic",
        "vmrn",
        "zipcode",
        "postalcode_australia",
        "postalcode_canada",
        "postalcode_french",
        "postalcode_germany",
    }
)


# A birth date a site's dictionary forgot to flag as an identifier (REDCap's own survey demo does).
_BIRTH_DATE = re.compile(r"\b(dob|date of birth|birth ?date|birthday)\b", re.IGNORECASE)


def withheld(field: Field) -> bool:
    """Free text not on the allow-list, a contact detail or a birth date: never loaded."""
    if field.identifier:
        return False  # an identifier is never loaded anyway (and is not noted as withheld)
    if field.field_type == "text" and field.validation in IDENTIFYING_VALIDATIONS:
        return True
    if field.is_dated and (_BIRTH_DATE.search(field.name.replace("_", " ")) or _BIRTH_DATE.search(field.label)):
        return True
    return is_free_text(field) and field.name not in allowed_free_text()

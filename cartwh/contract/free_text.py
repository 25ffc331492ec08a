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
# project may use them): never loaded, like free text, whatever the Identifier? column says; and
# what each one holds.
IDENTIFYING_VALIDATIONS = {
    "email": "an e-mail address",
    "phone": "a phone number",
    "phone_australia": "a phone number",
    "ssn": "a social security number",
    "mrn_10d": "a medical record number",
    "mrn_generic": "a medical record number",
    "vmrn": "a medical record number",
    "zipcode": "an address",
    "postalcode_australia": "an address",
    "postalcode_canada": "an address",
    "postalcode_french": "an address",
    "postalcode_germany": "an address",
}


# A birth date a site's dictionary forgot to flag as an identifier (REDCap's own survey demo does).
_BIRTH_DATE = re.compile(r"\b(dob|date of birth|birth ?date|birthday|fecha de nacimiento)\b", re.IGNORECASE)
# What a field's name or label says it holds, when it identifies a patient, in the words of
# English and Spanish case report forms (a field name's underscores read as spaces).
IDENTIFYING_WORDS = {
    "a name": re.compile(
        r"\b((patient|participant|subject|person|pt|first|last|given|family|full|middle|maiden)\s?names?"
        r"|surnames?|forenames?|initials|nombre|apellidos?)\b|^names?$",
        re.IGNORECASE,
    ),
    "a medical record number": re.compile(
        r"\b(mrn|medical record( number| no)?|hospital (number|no)|chart (number|no)|nhc|historia cl[ií]nica"
        r"|nhs (number|no))\b",
        re.IGNORECASE,
    ),
    "a social security number": re.compile(r"\b(ssn|social security)\b", re.IGNORECASE),
    "a birth date": _BIRTH_DATE,
    "an address": re.compile(
        r"\b(address|street|post ?code|zip( code)?|postal code|direcci[oó]n|domicilio)\b", re.IGNORECASE
    ),
    "a phone number": re.compile(r"\b(phone|telephone|mobile|tel[eé]fono|m[oó]vil)\b", re.IGNORECASE),
    "an e-mail address": re.compile(r"\b(e-?mail|correo)\b", re.IGNORECASE),
}


def identifying(field: Field) -> str | None:
    """Why a field identifies a patient ('flagged as an identifier', 'a name', 'a birth date', ...),
    from its Identifier? flag, its text validation, or what its name or label says; None when
    nothing does. A site mapping may carry none of them onto the canonical model
    (cartwh.contract.site_mapping), and their values feed the identifier matching at ingestion."""
    return "flagged as an identifier" if field.identifier else what_it_identifies(field)


def what_it_identifies(field: Field) -> str | None:
    """'a name', 'a medical record number', 'a birth date', ... by the field's text validation or
    the words of its name or label; None when they say nothing of the kind."""
    if field.validation in IDENTIFYING_VALIDATIONS:
        return f"{IDENTIFYING_VALIDATIONS[field.validation]} (validation {field.validation})"
    label = re.sub(r"<[^>]+>", " ", field.label)
    for kind, words in IDENTIFYING_WORDS.items():
        if words.search(field.name.replace("_", " ")) or words.search(label):
            return kind
    return None


def withheld(field: Field) -> bool:
    """Free text not on the allow-list, a contact detail or a birth date: never loaded."""
    if field.identifier:
        return False  # an identifier is never loaded anyway (and is not noted as withheld)
    if field.field_type == "text" and field.validation in IDENTIFYING_VALIDATIONS:
        return True
    if field.is_dated and (_BIRTH_DATE.search(field.name.replace("_", " ")) or _BIRTH_DATE.search(field.label)):
        return True
    return is_free_text(field) and field.name not in allowed_free_text()

"""Load one REDCap flat record export into raw.redcap_<form>, one table per instrument.

The data dictionary types and validates every column. Identifier fields (name, MRN, birth
date) stop here: the record id becomes a keyed-hash pseudonym, the birth date becomes age at
infusion, and quarantine rows show no identifier values. Free text not on the reviewed allow-list
is not loaded (cartwh.contract.free_text), and loaded text holding the record's own name, MRN or
birth date is quarantined (cartwh.ingest.identifiers). A bad value quarantines the row for
its form only, so one typo in the toxicity form does not lose the patient's demographics.
"""

from __future__ import annotations

import duckdb

from cartwh.contract.dates import dictionary_bound
from cartwh.contract.free_text import withheld
from cartwh.contract.redcap import (
    DATA_ACCESS_GROUP,
    RECORD_ID,
    REPEAT_INSTANCE,
    REPEAT_INSTRUMENT,
    REPEATING_FORMS,
    DataDictionary,
    Field,
)
from cartwh.ingest.csv_reader import ROWS, ExportFile, read_rows, skip_rows
from cartwh.ingest.errors import ExportError, Problem
from cartwh.ingest.identifiers import quarantine_identifiers, register_identifiers
from cartwh.ingest.keys import ROW_SITES, join_keys, register_patient_keys
from cartwh.ingest.validation import (
    PROBLEMS,
    Rule,
    add_duplicate_problems,
    check_rules,
    excluded,
    for_each_file,
    reset_problems,
    unpivot_values,
)
from cartwh.ingest.warehouse import ensure_table, quote, quote_literal

AGE_COLUMN = "age_at_infusion_years"


def table_name(form: str) -> str:
    return f"raw.redcap_{form}"


def field_rules(field: Field) -> list[Rule]:
    """What the dictionary allows in each export column of a field."""
    if field.field_type in ("yesno", "truefalse", "checkbox"):
        choices, sql_type = ("0", "1"), "VARCHAR"
    elif field.is_coded:
        choices, sql_type = tuple(code for code, _ in field.choices), "VARCHAR"
    else:
        choices, sql_type = None, field.sql_type
    window = {"earliest": dictionary_bound(field.date_min), "latest": dictionary_bound(field.date_max)}
    return [Rule(column, sql_type, field.minimum, field.maximum, choices, field.form, field.identifier, **window)
            for column in field.export_columns]  # fmt: skip


def _text_columns(dictionary: DataDictionary) -> dict[str, str]:
    """Loaded columns that hold text (column -> form): where an identifier could be typed."""
    return {c: f.form for f in dictionary.fields
            if f.name != RECORD_ID and not f.identifier and not withheld(f) and f.sql_type == "VARCHAR"
            and not f.is_coded and f.field_type not in ("yesno", "truefalse", "checkbox") for c in f.export_columns}  # fmt: skip


def _typed(field: Field, column: str, header: set[str]) -> str:
    if column not in header:
        return "NULL"
    value = quote(column)
    if field.field_type in ("yesno", "truefalse", "checkbox"):
        return f"({value} = '1')"
    if field.sql_type == "VARCHAR":
        return value
    return f"TRY_CAST({value} AS {field.sql_type})"


def _columns(dictionary: DataDictionary, form: str) -> dict[str, str]:
    columns = {"patient_key": "VARCHAR NOT NULL", "site": "VARCHAR"}
    if form in REPEATING_FORMS:
        columns[REPEAT_INSTANCE] = "BIGINT NOT NULL"
    for field in dictionary.form_fields(form):
        if field.identifier or withheld(field):
            continue
        for column in field.export_columns:
            columns[column] = "BOOLEAN" if field.field_type == "checkbox" else field.sql_type
    if form == "demographics":
        columns[AGE_COLUMN] = "BIGINT"
    columns["form_status"] = "SMALLINT"
    columns["_load_id"] = "BIGINT NOT NULL"
    columns["_source_row"] = "BIGINT NOT NULL"
    return columns


def _age_at_infusion(header: set[str]) -> str:
    """Whole years from birth to infusion, computed before the birth date is dropped; NULL when
    either date broke its rule (a cast alone reads '12025-02-09' or 'infinity' as a date)."""
    if not {"birth_date", "infusion_date"} <= header:
        return "NULL"
    born, infused = "TRY_CAST(trim(birth_date) AS DATE)", "TRY_CAST(trim(infusion_date) AS DATE)"
    valid = (f"NOT EXISTS (SELECT 1 FROM {PROBLEMS} p WHERE p.load_id = {ROWS}._load_id AND p.row = {ROWS}._row "
             "AND p.column_name IN ('birth_date', 'infusion_date'))")
    return (f"CASE WHEN {valid} THEN date_diff('year', {born}, {infused}) - "
            f"CASE WHEN strftime({infused}, '%m-%d') < strftime({born}, '%m-%d') THEN 1 ELSE 0 END END")  # fmt: skip


def _form_filter(dictionary: DataDictionary, form: str, header: set[str]) -> str:
    """Rows of `form`. REDCap leaves the repeat columns out when no repeating form is exported."""
    repeats = REPEAT_INSTRUMENT in header
    if form in REPEATING_FORMS:
        return f"{quote(REPEAT_INSTRUMENT)} = {quote_literal(form)}" if repeats else "FALSE"
    columns = [c for f in dictionary.form_fields(form) for c in f.export_columns if c in header]
    any_value = " OR ".join(f"{quote(c)} IS NOT NULL" for c in columns) or "FALSE"
    return f"{quote(REPEAT_INSTRUMENT)} IS NULL AND ({any_value})" if repeats else f"({any_value})"


def create_form_tables(con: duckdb.DuckDBPyConnection, dictionary: DataDictionary) -> None:
    """One raw table per instrument of the dictionary, with its full schema, empty until rows land."""
    for form in dictionary.forms:
        ensure_table(con, table_name(form), _columns(dictionary, form))


def load_redcap_export(con: duckdb.DuckDBPyConnection, files: list[ExportFile], dictionary: DataDictionary) -> list[str]:
    """Insert the valid rows of a batch of exports; return the raw tables written. Problems stay in PROBLEMS."""
    header, structural = read_rows(con, files, known=dictionary.export_header())
    if RECORD_ID not in header:
        raise ExportError(files[0].name, "required column missing: not a REDCap record export?", row=1, column=RECORD_ID)
    present = set(header)
    known = set(dictionary.export_header())
    free_text = {c for f in dictionary.fields if withheld(f) for c in f.export_columns}
    reset_problems(con, structural + for_each_file(files, [
        Problem(1, c, "column not in the data dictionary: ignored") for c in header if c not in known
    ] + [Problem(1, c, "free text not on the reviewed allow-list: not loaded") for c in header if c in free_text]))  # fmt: skip
    register_patient_keys(con, files, DATA_ACCESS_GROUP, track_moves=True)
    rules = [Rule(RECORD_ID, required=True),
             Rule(REPEAT_INSTRUMENT, choices=REPEATING_FORMS),
             Rule(REPEAT_INSTANCE, "BIGINT", minimum=1)]  # fmt: skip
    rules += [r for f in dictionary.fields if f.name != RECORD_ID for r in field_rules(f) if r.column in present]
    unpivot_values(con, [r.column for r in rules if r.column in present])
    check_rules(con, rules)
    add_duplicate_problems(con, header, [c for c in (RECORD_ID, REPEAT_INSTRUMENT, REPEAT_INSTANCE) if c in present],
                           "record, repeating instrument and instance")  # fmt: skip
    if {REPEAT_INSTRUMENT, REPEAT_INSTANCE} <= present:
        con.execute(f"INSERT INTO {PROBLEMS} SELECT _load_id, _row, NULL, '{REPEAT_INSTANCE}', "
                    f"'a repeating instrument row without an instance number', NULL FROM {ROWS} "
                    f"WHERE {REPEAT_INSTRUMENT} IS NOT NULL AND {REPEAT_INSTANCE} IS NULL")  # fmt: skip
    register_identifiers(con, from_batch=True, dictionary=dictionary)
    quarantine_identifiers(con, _text_columns(dictionary), f"SELECT load_id, row, site, record_id FROM {ROW_SITES}")
    _skip_rows_without_form_data(con, dictionary, present)
    for form in dictionary.forms:
        _insert_form(con, dictionary, form, present, _form_filter(dictionary, form, present))
    return [table_name(form) for form in dictionary.forms]


def _skip_rows_without_form_data(con, dictionary: DataDictionary, present: set[str]) -> None:
    """A record's non-repeating row whose every field is empty fills no form: REDCap exports one
    for a record that so far has only repeating instruments. It is counted as skipped, not lost.
    (Rows with a problem stay: they are quarantined.)"""
    columns = [c for f in dictionary.fields if f.name != RECORD_ID for c in f.export_columns if c in present]
    empty = " AND ".join(f"{quote(c)} IS NULL" for c in columns) or "TRUE"
    base = f"{quote(REPEAT_INSTRUMENT)} IS NULL AND " if REPEAT_INSTRUMENT in present else ""
    skip_rows(con, f"{base}{empty} AND {excluded()}", "record row without form data")


def _insert_form(con, dictionary: DataDictionary, form: str, present: set[str], where: str) -> None:
    table = table_name(form)
    columns = _columns(dictionary, form)
    ensure_table(con, table, columns)
    select = {"patient_key": "k.patient_key", "site": "k.site"}
    if form in REPEATING_FORMS:
        select[REPEAT_INSTANCE] = f"TRY_CAST({quote(REPEAT_INSTANCE)} AS BIGINT)" if REPEAT_INSTANCE in present else "NULL"
    for field in dictionary.form_fields(form):
        if not (field.identifier or withheld(field)):
            select |= {c: _typed(field, c, present) for c in field.export_columns}
    if form == "demographics":
        select[AGE_COLUMN] = _age_at_infusion(present)
    status = f"{form}_complete"
    select["form_status"] = f"TRY_CAST({quote(status)} AS SMALLINT)" if status in present else "NULL"
    select["_load_id"] = "_load_id"
    select["_source_row"] = "_row"
    names = ", ".join(quote(c) for c in select)
    values = ", ".join(select.values())
    con.execute(
        f"INSERT INTO {table} ({names}) SELECT {values} FROM {ROWS} "
        f"{join_keys()} WHERE {where} AND {excluded(form)} ORDER BY _load_id, _row"  # file order, whatever the join
    )

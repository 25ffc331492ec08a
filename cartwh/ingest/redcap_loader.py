"""Load one REDCap flat record export into raw.redcap_<form>, one table per instrument.

The data dictionary of the export's project (cartwh.contract.redcap_site: the shipped one, or the
site's own) types and validates every column. Identifier fields (name, MRN, birth date) stop
here: the record id becomes a keyed-hash pseudonym, the birth date becomes age at infusion, and
quarantine rows show no identifier values. Free text not on the reviewed allow-list is not
loaded (cartwh.contract.free_text), and loaded text holding the record's own name, MRN or birth
date is quarantined (cartwh.ingest.identifiers). A bad value quarantines the row for its form
only, so one typo in the toxicity form does not lose the patient's demographics.

Rows are keyed as REDCap keys them: record, event (`redcap_event_name`, longitudinal projects),
repeat instrument and instance. A row holds form F when F is its repeat instrument, or, with no
repeat instrument, when it has a value in one of F's fields: so a non-repeating form, a
repeating instrument, a repeating *event* (instance set, no instrument: the row holds every form
of the event) and a longitudinal event row each land once, keyed by their event and instance.

A site with its own dictionary lands all its fields in its own tables
(raw.redcap_site_<site>__<form>, keyed by record, event and instance). With a mapping
(cartwh.contract.site_mapping) its rows are also translated onto the canonical fields
(cartwh.ingest.site_translation) and land in the canonical tables; there a repeating canonical form gets instance numbers 1, 2, ... per record
in event order (the project's order of events, else first appearance in the file), then REDCap
instance, then file row, and a non-repeating canonical form fed by two rows of a record is a
conflict. Problems always name the site's own column.
"""

from __future__ import annotations

import duckdb

from cartwh.contract.dates import dictionary_bound
from cartwh.contract.free_text import identifying, withheld
from cartwh.contract.redcap import (
    DATA_ACCESS_GROUP,
    EVENT,
    RECORD_ID,
    REPEAT_INSTANCE,
    REPEAT_INSTRUMENT,
    DataDictionary,
    Field,
)
from cartwh.contract.redcap_dictionary import REDCAP_NAME, project_dictionary, shown
from cartwh.contract.redcap_site import NO_DICTIONARY, SiteProject
from cartwh.ingest.csv_reader import ROWS, ExportFile, read_rows, skip_rows
from cartwh.ingest.errors import ExportError, Problem
from cartwh.ingest.identifiers import quarantine_birth_dates, quarantine_identifiers, register_identifiers
from cartwh.ingest.keys import ROW_SITES, join_keys, register_patient_keys
from cartwh.ingest.record_shapes import LABELS_EXPORT, flat_copy
from cartwh.ingest.redcap_versions import record_project_versions
from cartwh.ingest.site_translation import base_field, mapping_notes, translation
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
from cartwh.ingest.warehouse import ensure_table, quote, quote_literal, quote_table

AGE_COLUMN = "age_at_infusion_years"
SURVEY_IDENTIFIER = "redcap_survey_identifier"
# The columns a flat export has besides the record id and the fields, as REDCap's settings add them.
_EXPORT_COLUMNS = (EVENT, REPEAT_INSTRUMENT, REPEAT_INSTANCE, DATA_ACCESS_GROUP, SURVEY_IDENTIFIER)
_FORM_ROWS = "_form_rows"  # (load_id, row, form, instance): which rows hold which form
_FLAG_TYPES = ("yesno", "truefalse", "checkbox")
_TIMESTAMP = "TRY_CAST(nullif({c}, '[not completed]') AS TIMESTAMP)"


def table_name(form: str, prefix: str = "raw.redcap_") -> str:
    """The raw table of a form: never named after a name outside REDCap's rule (the dictionary
    refuses those, naming its file; this holds for a dictionary built any other way too)."""
    if not REDCAP_NAME.fullmatch(form):
        raise ValueError(f"form {shown(form)} is not a REDCap instrument name: no table is named after it")
    return prefix + form


def field_rules(field: Field, scope: str | None = None) -> list[Rule]:
    """What the dictionary allows in each export column of a field."""
    if field.field_type in _FLAG_TYPES:
        choices, sql_type = ("0", "1"), "VARCHAR"
    elif field.is_coded:
        choices, sql_type = tuple(code for code, _ in field.choices), "VARCHAR"
    else:
        choices, sql_type = None, field.sql_type
    window = {"earliest": dictionary_bound(field.date_min), "latest": dictionary_bound(field.date_max)}
    hide = field.identifier or withheld(field)  # a bad e-mail or birth date is not shown either
    rule = field.value_rule
    # Text validations without an SQL type of their own (e-mail, phone, alpha_only, ...) by their pattern.
    form = (
        {"pattern": rule.pattern, "pattern_name": field.validation}
        if sql_type == "VARCHAR" and not choices and field.field_type == "text" and rule.pattern
        else {}
    )
    return [
        Rule(column, sql_type, field.minimum, field.maximum, choices, scope or field.form, hide, **window, **form)
        for column in field.export_columns
    ]


def _loaded_fields(dictionary: DataDictionary, form: str, reviewed: frozenset[str] = frozenset()) -> list[Field]:
    """`reviewed`: a site's free-text fields its mapping maps onto allowed canonical free text."""
    return [f for f in dictionary.form_fields(form) if not (f.identifier or (withheld(f) and f.name not in reviewed))]


def _reviewed(project: SiteProject) -> frozenset[str]:
    if project.mapping is None:
        return frozenset()
    canonical = project_dictionary()
    return frozenset(m.site for m in project.mapping.fields if not withheld(canonical.field(m.canonical)))


def _text_columns(
    dictionary: DataDictionary, scope=lambda form: form, reviewed: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Loaded columns that hold text (column -> form): where an identifier could be typed."""
    return {
        c: scope(f.form)
        for form in dictionary.forms
        for f in _loaded_fields(dictionary, form, reviewed)
        if f.sql_type == "VARCHAR" and not f.is_coded and f.field_type not in _FLAG_TYPES
        for c in f.export_columns
    }


def _date_columns(dictionary: DataDictionary, scope) -> dict[str, str]:
    """Date columns that are no identifier (column -> form): none may be the record's birth date."""
    return {c: scope(f.form) for f in dictionary.fields if f.is_dated and not identifying(f) for c in f.export_columns}


def _typed(field: Field, column: str, header: set[str]) -> str:
    if column not in header:
        return "NULL"
    value = quote(column)
    if field.field_type in _FLAG_TYPES:
        return f"({value} = '1')"
    if field.sql_type == "VARCHAR":
        return value
    return f"TRY_CAST({value} AS {field.sql_type})"


def _columns(
    dictionary: DataDictionary, form: str, site_table: bool = False, reviewed: frozenset[str] = frozenset()
) -> dict[str, str]:
    columns = {"patient_key": "VARCHAR NOT NULL", "site": "VARCHAR", EVENT: "VARCHAR"}
    if site_table:
        columns[REPEAT_INSTANCE] = "BIGINT"
    elif form in dictionary.repeating_forms:
        columns[REPEAT_INSTANCE] = "BIGINT NOT NULL"
    for field in _loaded_fields(dictionary, form, reviewed):
        for column in field.export_columns:
            columns[column] = "BOOLEAN" if field.field_type == "checkbox" else field.sql_type
    if form == "demographics" and not site_table:
        columns[AGE_COLUMN] = "BIGINT"
    if site_table:
        columns[f"{form}_timestamp"] = "TIMESTAMP"
    columns["form_status"] = "SMALLINT"
    columns["_load_id"] = "BIGINT NOT NULL"
    columns["_source_row"] = "BIGINT NOT NULL"
    return columns


def create_form_tables(con: duckdb.DuckDBPyConnection, dictionary: DataDictionary) -> None:
    """One raw table per instrument of the dictionary, with its full schema, empty until rows land."""
    for form in dictionary.forms:
        ensure_table(con, table_name(form), _columns(dictionary, form))


def _known_header(dictionary: DataDictionary) -> list[str]:
    header = [dictionary.record_id_field, *_EXPORT_COLUMNS]
    for form in dictionary.forms:
        header += [
            f"{form}_timestamp",
            *(c for f in dictionary.form_fields(form) for c in f.export_columns),
            f"{form}_complete",
        ]
    return header


def load_redcap_export(
    con: duckdb.DuckDBPyConnection, files: list[ExportFile], dictionary: DataDictionary | None = None
) -> list[str]:
    """Insert the valid rows of a batch of exports (one project's); return the raw tables written.
    Problems stay in PROBLEMS. `dictionary` replaces the shipped one (tests)."""
    project = files[0].context or SiteProject(project_dictionary())
    if dictionary is not None:
        project = SiteProject(dictionary)
    site = project.dictionary
    record_field = site.record_id_field
    reviewed = _reviewed(project)
    header, structural = read_rows(con, [flat_copy(f, project) for f in files], known=_known_header(site))
    _refuse_labels_export(con, files, header, site)
    fallback = not project.dictionary_from and dictionary is None  # no dictionary landed: the shipped one
    if record_field not in header:
        raise ExportError(
            files[0].name,
            f"required column missing: no '{record_field}' (the first field of the data dictionary): "
            + (
                f"not an export of the shipped project; {NO_DICTIONARY}"
                if fallback
                else "not a REDCap record export of this project?"
            ),
            row=1,
            column=record_field,
        )
    if fallback:
        _check_shipped_columns(files[0].name, header, site)
    if record_field != RECORD_ID:  # the warehouse's key helpers read ROWS.record_id
        con.execute(f"ALTER TABLE {ROWS} RENAME COLUMN {quote(record_field)} TO {RECORD_ID}")
    present = set(header) - {record_field} | {RECORD_ID}
    _normalise_values(con, site, present)
    canonical = project.canonical or dictionary is not None
    notes = _header_notes(project, header, reviewed, canonical)
    reset_problems(con, structural + for_each_file(files, notes))
    register_patient_keys(con, files, DATA_ACCESS_GROUP, track_moves=True)
    repeating = _repeating_forms(project, con, present)
    scope = (lambda form: form) if canonical or project.mapping is None else (lambda form: f"site:{form}")
    _check_rows(con, project, header, present, repeating, scope)
    register_identifiers(con, from_batch=True, dictionary=site)
    records = f"SELECT load_id, row, site, record_id FROM {ROW_SITES}"
    quarantine_identifiers(con, _text_columns(site, scope, reviewed), records)
    quarantine_birth_dates(con, _date_columns(site, scope), records)
    _skip_rows_without_form_data(con, site, present)
    record_project_versions(con, files, project)
    if canonical:
        _form_rows(con, site, present, repeating, renumber=EVENT in present, event_order=_event_order(project))
        _conflicts(con, site, repeating, EVENT in present)
        for form in site.forms:
            _insert_form(con, site, form, present, table_name(form))
        tables = [table_name(form) for form in site.forms]
    else:
        _form_rows(con, site, present, repeating, renumber=False, event_order=_event_order(project))
        tables = [table_name(form, project.table_prefix) for form in site.forms]
        for form, table in zip(site.forms, tables, strict=True):
            _insert_form(con, site, form, present, table, scope=scope(form), site_table=True, reviewed=reviewed)
        if project.mapping is not None:
            tables += _load_mapped(con, project, present)
    # errors name the record id as the export does
    con.execute(f"UPDATE {PROBLEMS} SET column_name = ? WHERE column_name = ?", [record_field, RECORD_ID])
    return tables


def _check_shipped_columns(name: str, header: list[str], dictionary: DataDictionary) -> None:
    """Records read with the shipped dictionary only because no other was landed: most of their
    columns must be the shipped project's, else they are another project's without its dictionary."""
    known = _known_header(dictionary)
    data = [c for c in header if c not in (dictionary.record_id_field, *_EXPORT_COLUMNS)]
    unknown = [c for c in data if c not in known]
    if 2 * len(unknown) > len(data):
        raise ExportError(
            name,
            f"{len(unknown)} of its {len(data)} columns are not fields of the shipped project "
            f"({', '.join(unknown[:5])}{', ...' if len(unknown) > 5 else ''}): {NO_DICTIONARY}",
            row=1,
        )


def _header_notes(project: SiteProject, header: list[str], reviewed: frozenset[str], canonical: bool) -> list[Problem]:
    """Row-1 notes of every file: columns ignored, not loaded, or not reaching the canonical model."""
    site = project.dictionary
    known = set(_known_header(site))
    free_text = {
        c: "contact detail or birth date: not loaded"
        if f.field_type == "text" and f.validation
        else "free text not on the reviewed allow-list: not loaded"
        for f in site.fields
        if f.name != site.record_id_field and withheld(f) and f.name not in reviewed
        for c in f.export_columns
    }
    notes = [Problem(1, c, "column not in the data dictionary: ignored") for c in header if c not in known]
    notes += [Problem(1, c, free_text[c]) for c in header if c in free_text]
    notes += (
        [Problem(1, SURVEY_IDENTIFIER, "survey participant identifier: not loaded")]
        if SURVEY_IDENTIFIER in header
        else []
    )
    return notes if canonical else notes + mapping_notes(project, header)


def _check_rows(
    con, project: SiteProject, header: list[str], present: set[str], repeating: tuple[str, ...], scope
) -> None:
    """Every value against the site's dictionary; duplicates and conflicts per record, event,
    repeat instrument and instance."""
    site = project.dictionary
    rules = [
        Rule(RECORD_ID, required=True),
        Rule(REPEAT_INSTRUMENT, choices=repeating or site.forms),
        Rule(REPEAT_INSTANCE, "BIGINT", minimum=1),
    ]
    if project.setup.events:
        rules.append(Rule(EVENT, choices=tuple(e.unique_event_name for e in project.setup.events)))
    rules += [
        r
        for f in site.fields
        if f.name != site.record_id_field
        for r in field_rules(f, scope(f.form))
        if r.column in present
    ]
    unpivot_values(con, [r.column for r in rules if r.column in present])
    check_rules(con, rules)
    key = [c for c in (RECORD_ID, EVENT, REPEAT_INSTRUMENT, REPEAT_INSTANCE) if c in present]
    what = (
        "record, event, repeating instrument and instance"
        if EVENT in present
        else "record, repeating instrument and instance"
    )
    add_duplicate_problems(con, [RECORD_ID if c == site.record_id_field else c for c in header], key, what)
    if {REPEAT_INSTRUMENT, REPEAT_INSTANCE} <= present:
        con.execute(
            f"INSERT INTO {PROBLEMS} SELECT _load_id, _row, NULL, '{REPEAT_INSTANCE}', "
            f"'a repeating instrument row without an instance number', NULL FROM {ROWS} "
            f"WHERE {REPEAT_INSTRUMENT} IS NOT NULL AND {REPEAT_INSTANCE} IS NULL"
        )


def _refuse_labels_export(con, files: list[ExportFile], header: list[str], dictionary: DataDictionary) -> None:
    """A labels export (choice labels instead of codes) would decode wrongly or not at all: it is
    refused whole, with what to export instead. Its header refuses it first (record_shapes); with
    raw headers (`rawOrLabelHeaders=raw`), coded columns holding labels but no code do."""
    coded = [f for f in dictionary.fields if f.is_coded and f.name in header]
    if not coded:
        return
    checks = []
    for f in coded:  # one scan: per coded column, the first row holding a label, and how many hold a code
        codes = [c for c, _ in f.choices]
        labels = [label for _, label in f.choices if label not in codes] or [""]
        checks += [
            f"min(_row) FILTER (WHERE trim({quote(f.name)}) IN ({', '.join(quote_literal(x) for x in labels)}))",
            f"count(*) FILTER (WHERE trim({quote(f.name)}) IN ({', '.join(quote_literal(x) for x in codes)}))",
        ]
    found = con.execute(f"SELECT {', '.join(checks)} FROM {ROWS}").fetchall()[0]
    for f, first_label, codes in zip(coded, found[0::2], found[1::2], strict=True):
        if first_label is not None and codes == 0:
            raise ExportError(files[0].name, LABELS_EXPORT, row=first_label, column=f.name)


def _normalise_values(con, dictionary: DataDictionary, present: set[str]) -> None:
    """Values as a raw export writes them: a pandas DataFrame written to CSV (PyCap's
    `format_type='df'`) prints every integral value of a column with gaps as a float ('2.0',
    '67.0': codes, flags, integers, sliders), and `number_comma_decimal` fields are written with
    a comma ('1,54')."""
    integral = [REPEAT_INSTANCE] + [c for c in present if c.endswith("_complete")]
    for f in dictionary.fields:
        coded = f.field_type in _FLAG_TYPES or (f.is_coded and all(code.lstrip("-").isdigit() for code, _ in f.choices))
        integral += list(f.export_columns) if coded or f.sql_type == "BIGINT" else []
    integral = [c for c in integral if c in present]
    floats = [f"{quote(c)} = regexp_replace({quote(c)}, '^\\s*(-?[0-9]+)\\.0+\\s*$', '\\1')" for c in integral]
    if floats:  # only the rows that hold such a value are rewritten
        con.execute(
            f"UPDATE {ROWS} SET {', '.join(floats)} WHERE " + " OR ".join(f"{quote(c)} LIKE '%.0%'" for c in integral)
        )
    commas = [c for f in dictionary.fields if f.value_rule.decimal_comma for c in f.export_columns if c in present]
    swaps = [
        f"{quote(c)} = CASE WHEN regexp_full_match(trim({quote(c)}), '[+-]?([0-9]+(,[0-9]*)?|,[0-9]+)') "
        f"THEN replace(trim({quote(c)}), ',', '.') ELSE {quote(c)} END"
        for c in commas
    ]
    if swaps:
        con.execute(
            f"UPDATE {ROWS} SET {', '.join(swaps)} WHERE " + " OR ".join(f"{quote(c)} LIKE '%,%'" for c in commas)
        )


def _repeating_forms(project: SiteProject, con, present: set[str]) -> tuple[str, ...]:
    """The repeating instruments: the project setup's, else the shipped four (canonical), else the
    forms the export names in redcap_repeat_instrument."""
    if project.setup.repeating_forms:
        return tuple(dict.fromkeys(form for _, form in project.setup.repeating_forms))
    if project.canonical or REPEAT_INSTRUMENT not in present:
        return project.dictionary.repeating_forms
    named = {
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT trim({REPEAT_INSTRUMENT}) FROM {ROWS} WHERE {REPEAT_INSTRUMENT} IS NOT NULL"
        ).fetchall()
    }
    return tuple(f for f in project.dictionary.forms if f in named)


def _event_order(project: SiteProject) -> list[str]:
    return [e.unique_event_name for e in project.setup.events]


def _skip_rows_without_form_data(con, dictionary: DataDictionary, present: set[str]) -> None:
    """A record's non-repeating row whose every field is empty fills no form: REDCap exports one
    for a record that so far has only repeating instruments (or an event with nothing entered).
    It is counted as skipped, not lost. (Rows with a problem stay: they are quarantined.)"""
    columns = [
        c for form in dictionary.forms for f in dictionary.form_fields(form) for c in f.export_columns if c in present
    ]
    empty = " AND ".join(f"{quote(c)} IS NULL" for c in columns) or "TRUE"
    base = f"{quote(REPEAT_INSTRUMENT)} IS NULL AND " if REPEAT_INSTRUMENT in present else ""
    skip_rows(con, f"{base}{empty} AND {excluded()}", "record row without form data")


def _holds(dictionary: DataDictionary, form: str, present: set[str]) -> str:
    columns = [c for f in dictionary.form_fields(form) for c in f.export_columns if c in present]
    return " OR ".join(f"{quote(c)} IS NOT NULL" for c in columns) or "FALSE"


def _form_rows(
    con,
    dictionary: DataDictionary,
    present: set[str],
    repeating: tuple[str, ...],
    renumber: bool,
    event_order: list[str],
) -> None:
    """_FORM_ROWS := the rows holding each form, with the form's instance. With `renumber`
    (canonical tables fed by events) a repeating form's instances are numbered per record in
    event order, then REDCap instance, then file row; otherwise the row's own instance."""
    instrument = REPEAT_INSTRUMENT in present
    instance = f"TRY_CAST({REPEAT_INSTANCE} AS BIGINT)" if REPEAT_INSTANCE in present else "NULL::BIGINT"
    event = EVENT if EVENT in present else "NULL"
    con.execute("CREATE OR REPLACE TEMP TABLE _event_rank (event VARCHAR, rank BIGINT)")
    if event_order:
        con.execute("INSERT INTO _event_rank SELECT unnest($e), generate_subscripts($e, 1)", {"e": event_order})
    elif EVENT in present:
        con.execute(f"""INSERT INTO _event_rank SELECT {EVENT}, row_number() OVER (ORDER BY min(_load_id), min(_row))
                        FROM {ROWS} WHERE {EVENT} IS NOT NULL GROUP BY 1""")
    parts = []
    for form in dictionary.forms:
        holds = _holds(dictionary, form, present)
        if form in repeating and instrument:
            where = f"trim({REPEAT_INSTRUMENT}) = {quote_literal(form)}"
            where += f" OR ({REPEAT_INSTRUMENT} IS NULL AND ({holds}))" if EVENT in present else ""
        elif form in repeating:
            where = f"({holds})" if EVENT in present else "FALSE"
        else:
            where = f"{REPEAT_INSTRUMENT} IS NULL AND ({holds})" if instrument else f"({holds})"
        number = instance
        if renumber and form in repeating:
            number = (
                f"row_number() OVER (PARTITION BY _load_id, trim({RECORD_ID}) ORDER BY coalesce(e.rank, 0), "
                f"coalesce({instance}, 1), _row)"
            )
        elif renumber:
            number = "NULL::BIGINT"
        parts.append(
            f"SELECT _load_id AS load_id, _row AS row, {quote_literal(form)} AS form, {number} AS instance "
            f"FROM {ROWS} LEFT JOIN _event_rank e ON e.event = {event} WHERE {where}"
        )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_FORM_ROWS} AS {' UNION ALL '.join(parts)}")


def _conflicts(con, dictionary: DataDictionary, repeating: tuple[str, ...], by_event: bool) -> None:
    """A non-repeating canonical form held by two rows of one record (two events, or an event and
    a repeating event) is a conflict: every such row is set aside for that form."""
    if not by_event:
        return  # a classic export's rows are unique by record (add_duplicate_problems)
    forms = [f for f in dictionary.forms if f not in repeating]
    con.execute(
        f"""INSERT INTO {PROBLEMS}
            WITH held AS (SELECT f.load_id, f.row, f.form, trim(r.{RECORD_ID}) AS record FROM {_FORM_ROWS} f
                          JOIN {ROWS} r ON r._load_id = f.load_id AND r._row = f.row WHERE f.form IN (SELECT unnest($forms))),
                 many AS (SELECT load_id, record, form, string_agg(row::VARCHAR, ', ' ORDER BY row) AS rows
                          FROM held GROUP BY ALL HAVING count(*) > 1)
            SELECT h.load_id, h.row, h.form, NULL, 'conflicting rows for the same record and form (rows ' || m.rows
                   || '): a form entered once per patient is filled in more than one event', NULL
            FROM held h JOIN many m USING (load_id, record, form)""",
        {"forms": forms or [""]},
    )


def _ages(con, present: set[str]) -> None:
    """_ages := (load_id, record, age at infusion in whole years) from the record's rows: the birth
    date and the infusion date may be in different events. NULL when either date broke its rule
    (a cast alone reads '12025-02-09' or 'infinity' as a date)."""
    dates = {}
    for column in ("birth_date", "infusion_date"):
        if column in present:
            dates[column] = (
                f"max(TRY_CAST(trim({column}) AS DATE)) FILTER (WHERE NOT EXISTS (SELECT 1 FROM {PROBLEMS} p "
                f"WHERE p.load_id = {ROWS}._load_id AND p.row = {ROWS}._row AND p.column_name = '{column}'))"
            )
    born, infused = dates.get("birth_date", "NULL::DATE"), dates.get("infusion_date", "NULL::DATE")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _ages AS
                    SELECT load_id, record, CASE WHEN bad = 0 THEN date_diff('year', born, infused) -
                           CASE WHEN strftime(infused, '%m-%d') < strftime(born, '%m-%d') THEN 1 ELSE 0 END END AS age
                    FROM (SELECT _load_id AS load_id, trim({RECORD_ID}) AS record, {born} AS born, {infused} AS infused,
                                 count(*) FILTER (WHERE EXISTS (SELECT 1 FROM {PROBLEMS} p WHERE p.load_id = {ROWS}._load_id
                                     AND p.row = {ROWS}._row AND p.column_name IN ('birth_date', 'infusion_date'))) AS bad
                          FROM {ROWS} GROUP BY ALL)""")


def _insert_form(
    con,
    dictionary: DataDictionary,
    form: str,
    present: set[str],
    table: str,
    scope: str | None = None,
    site_table: bool = False,
    reviewed: frozenset[str] = frozenset(),
) -> None:
    columns = _columns(dictionary, form, site_table, reviewed)
    ensure_table(con, table, columns)
    select = {"patient_key": "k.patient_key", "site": "k.site", EVENT: EVENT if EVENT in present else "NULL"}
    if REPEAT_INSTANCE in columns:
        select[REPEAT_INSTANCE] = "fr.instance"
    for field in _loaded_fields(dictionary, form, reviewed):
        select |= {c: _typed(field, c, present) for c in field.export_columns}
    join_age = ""
    if AGE_COLUMN in columns:
        _ages(con, present)
        select[AGE_COLUMN] = "a.age"
        join_age = f"LEFT JOIN _ages a ON a.load_id = {ROWS}._load_id AND a.record = trim({ROWS}.{RECORD_ID})"
    if site_table:
        stamp = f"{form}_timestamp"
        select[stamp] = _TIMESTAMP.format(c=quote(stamp)) if stamp in present else "NULL"
    status = f"{form}_complete"
    select["form_status"] = f"TRY_CAST({quote(status)} AS SMALLINT)" if status in present else "NULL"
    select["_load_id"] = "_load_id"
    select["_source_row"] = "_row"
    names = ", ".join(quote(c) for c in select)
    values = ", ".join(select.values())
    con.execute(
        f"INSERT INTO {quote_table(table)} ({names}) SELECT {values} FROM {ROWS} {join_keys()} "
        f"JOIN {_FORM_ROWS} fr ON fr.load_id = {ROWS}._load_id AND fr.row = {ROWS}._row AND fr.form = {quote_literal(form)} "
        f"{join_age} WHERE {excluded(scope or form)} ORDER BY _load_id, _row"  # file order, whatever the join
    )


# --- a mapped site: its rows translated onto the canonical fields ------------------------------


def _load_mapped(con, project: SiteProject, present: set[str]) -> list[str]:
    """Translate ROWS onto the canonical dictionary's columns (site codes recoded, unit columns
    from the declarations, events restricted to the forms they feed), check them with the
    canonical rules and insert them into the canonical tables. Problems name the site columns."""
    canonical = project_dictionary()
    mapping = project.mapping
    translated, back = translation(project.dictionary, canonical, mapping, present)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _site_rows AS SELECT * FROM {ROWS}")
    keep = [c for c in (RECORD_ID, DATA_ACCESS_GROUP, EVENT, REPEAT_INSTANCE) if c in present]
    select = ", ".join(["_load_id", "_row", *keep, *(f"{sql} AS {quote(c)}" for c, sql in translated.items())])
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ROWS} AS SELECT {select} FROM _site_rows")
    columns = set(keep) | set(translated)
    rules = [r for f in canonical.fields if f.name != RECORD_ID for r in field_rules(f) if r.column in columns]
    unpivot_values(con, [r.column for r in rules])
    con.execute(f"CREATE OR REPLACE TEMP TABLE _site_problems AS SELECT * FROM {PROBLEMS} WHERE scope IS NOT NULL")
    check_rules(con, rules)
    # A site value that broke the site's rule sets aside the canonical row it feeds too.
    con.execute("CREATE OR REPLACE TEMP TABLE _feeds (site VARCHAR, canonical VARCHAR, form VARCHAR)")
    names = {f.name: f.form for f in canonical.fields}
    con.executemany(
        "INSERT INTO _feeds VALUES (?, ?, ?)",
        [(s, c, names[base_field(c)]) for c, s in back.items() if base_field(c) in names],
    )
    con.execute(f"""INSERT INTO {PROBLEMS}
                    SELECT s.load_id, s.row, f.form, f.canonical, s.reason, s.value FROM _site_problems s
                    JOIN _feeds f ON f.site = s.column_name
                    WHERE NOT EXISTS (SELECT 1 FROM {PROBLEMS} p WHERE p.load_id = s.load_id AND p.row = s.row
                                      AND p.column_name = f.canonical AND p.scope = f.form)""")
    present = columns
    _form_rows(con, canonical, present, canonical.repeating_forms, renumber=True, event_order=_event_order(project))
    _conflicts(con, canonical, canonical.repeating_forms, by_event=True)
    forms = [
        form
        for form in canonical.forms
        if any(c in present for f in canonical.form_fields(form) for c in f.export_columns)
    ]
    for form in forms:
        _insert_form(con, canonical, form, present, table_name(form))
    con.execute(f"""UPDATE {PROBLEMS} p SET column_name = f.site FROM _feeds f
                    WHERE p.column_name = f.canonical AND p.scope = f.form""")  # the site's own column names
    return [table_name(form) for form in forms]

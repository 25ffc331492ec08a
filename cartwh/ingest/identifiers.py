"""Identifiers typed where they do not belong: the record's own name, MRN or birth date in any
other text of the same record (free text, a manifest's FCS file name, a value that breaks its
rule) is caught at ingestion. The row is quarantined (for that form, in a REDCap export) with a
reason that names the kind of identifier, never its value, and no quarantined value that holds
one is kept.

The record's identifiers come from the REDCap rows of the batch and from the current REDCap
exports in the archive (a manifest or a statistics file carries no name, MRN or birth date of
its own); a statistics row's record is the one its tube's current manifest names. They live
only in temp tables of the loading connection, never in a table of the warehouse. A record is
(site, record id), as patients are keyed (cartwh.ingest.keys): record ids restart at every site,
so record 1 of one site is never matched against the identifiers of record 1 of another.

Matching is on normalised text (lower case, accents stripped, every run of other characters
one separator): a name matches when any of its words of three letters or more appears as a
word, or the whole name runs together; an MRN when its characters appear in that order
anywhere (also without leading zeros); a birth date in the spellings of `date_spellings`.
A word needle is looked up by its first word among the text's words (a join), and only then
checked as a phrase, so the cost grows with the text, not with text times needles.
"""

from __future__ import annotations

from datetime import date
from pathlib import PurePosixPath

import duckdb

from cartwh.contract.free_text import identifying, what_it_identifies
from cartwh.contract.redcap import DATA_ACCESS_GROUP, RECORD_ID, DataDictionary, project_dictionary
from cartwh.ingest.csv_reader import ROWS
from cartwh.ingest.keys import ROW_SITES, declared_site, site_sql
from cartwh.ingest.validation import PROBLEMS
from cartwh.ingest.warehouse import LANDED_FILES, insert_rows, quote, quote_literal

# (site, record_id, field, mode, needle, first_word): what a record's text must not hold
NEEDLES = "_identifier_needles"
# A version's archived copy under the archive this ingestion works with (cartwh.ingest.load sets
# the variable): the archive is content-addressed, so a data folder moved or restored elsewhere
# still finds its copies, and the ingestion connection reaches no other folder (cartwh.warehouse.confine).
ARCHIVED_PATH = "getvariable('archive') || '/' || regexp_extract(archive_path, '[^/]+/[^/]+$')"
# Where each source's exports land (as cartwh.ingest.load.SOURCES declares): the folder below is a site.
_SOURCE_FOLDERS = {"redcap": "redcap", "cytometry_manifest": "cytometry/manifests"}
# How a reason names what was found, by what its field identifies (cartwh.contract.free_text).
_KIND = {"a name": "name", "a medical record number": "MRN", "a birth date": "birth date"}
# Words of a name too common to be told from ordinary text.
_NAME_PARTICLES = ("de", "del", "la", "las", "los", "y", "da", "das", "do", "dos", "di", "van", "von", "der", "el")
_MONTHS = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "es": (
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ),
}


def words_sql(text: str) -> str:
    """' word word ': lower case, accents stripped, separators collapsed, padded for whole-word search."""
    return f"(' ' || trim(regexp_replace(strip_accents(lower({text})), '[^a-z0-9]+', ' ', 'g')) || ' ')"


def compact_sql(text: str) -> str:
    """Letters and digits only, lower case, accents stripped."""
    return f"regexp_replace(strip_accents(lower({text})), '[^a-z0-9]+', '', 'g')"


def date_spellings(day: date) -> list[tuple[str, str]]:
    """(mode, spelling) of a date as people and lab software write it: ISO, day-first and
    month-first with any separator, two-digit years zero-padded, eight digits run together, and
    month names (English and Spanish, full and abbreviated)."""
    y, m, d, yy = day.year, day.month, day.day, f"{day.year % 100:02d}"
    words = {
        f"{y} {m:02d} {d:02d}",
        f"{y} {m} {d}",
        f"{d:02d} {m:02d} {y}",
        f"{d} {m} {y}",
        f"{m:02d} {d:02d} {y}",
        f"{m} {d} {y}",
        f"{d:02d} {m:02d} {yy}",
        f"{m:02d} {d:02d} {yy}",
        f"{d:02d}{m:02d}{yy}",
        f"{yy}{m:02d}{d:02d}",
    }
    for names in _MONTHS.values():
        for month in {names[m - 1], names[m - 1][:3]}:
            words |= {f"{d} {month} {y}", f"{d:02d} {month} {y}", f"{month} {d} {y}", f"{d} de {month} de {y}"}
    compact = {f"{y}{m:02d}{d:02d}", f"{d:02d}{m:02d}{y}", f"{m:02d}{d:02d}{y}"}
    return sorted({("word", s) for s in words} | {("compact", s) for s in compact})


def _archived_identifiers(con: duckdb.DuckDBPyConnection, fields: list[str]) -> str:
    """A temp table of (site, record_id, field, value) from the current REDCap exports in the archive."""
    paths = _current_archive(con, "redcap")
    select = "SELECT NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR WHERE FALSE"
    if paths:
        scan = _read_archived(paths)
        present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
        fields = [f for f in fields if f in present]
        site = site_sql(quote(DATA_ACCESS_GROUP) if DATA_ACCESS_GROUP in present else "NULL", "a.site")
        if RECORD_ID in present and fields:
            select = " UNION ALL ".join(
                f"SELECT {site}, trim({RECORD_ID}), {quote_literal(f)}, {quote(f)} FROM {scan} "
                "JOIN _archive_sites a USING (archive_path)"
                for f in fields
            )
    return _cached(con, "_archived_identifiers", paths, f"SELECT * FROM ({select}) t(site, record_id, field, value)")


def _current_archive(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    """The archive paths of the source's current file versions; _archive_sites := the site each declares."""
    rows = con.execute(
        f"SELECT {ARCHIVED_PATH}, file FROM {LANDED_FILES} WHERE source = ? AND superseded_by IS NULL ORDER BY load_id",
        [source],
    ).fetchall()
    con.execute("CREATE OR REPLACE TEMP TABLE _archive_sites (archive_path VARCHAR, site VARCHAR)")
    insert_rows(
        con,
        "_archive_sites",
        [(path, declared_site(_landing_folder(file, _SOURCE_FOLDERS[source]))) for path, file in rows],
    )
    return [path for path, _ in rows]


def _landing_folder(file: str, source_folder: str) -> str | None:
    """The folder right below the source's folder that a landed file sits in, None at the top."""
    below = PurePosixPath(file).relative_to(source_folder).parts
    return below[0] if len(below) > 1 else None


def _cached(con: duckdb.DuckDBPyConnection, table: str, paths: list[str], select: str) -> str:
    """Temp table `table` := `select`, read again only when the archived files it reads changed:
    a night of many batches reads the archive once, not once per batch."""
    signature = "\n".join(paths)
    if _signature(con, table) == signature:
        return table
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {select}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table}_of AS SELECT ? AS signature", [signature])
    return table


def _signature(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """What temp table `table` was made from (`{table}_of`), None if it was not made yet."""
    known = con.execute("SELECT 1 FROM duckdb_tables() WHERE temporary AND table_name = ?", [f"{table}_of"]).fetchall()
    return con.execute(f"SELECT signature FROM {table}_of").fetchall()[0][0] if known else None


def _read_archived(paths: list[str]) -> str:
    """A text scan of archived exports, for looking values up only: rows that cannot be split were
    quarantined when their file was loaded."""
    listed = "[" + ", ".join(quote_literal(p) for p in paths) + "]"
    return (
        f"read_csv({listed}, header = true, all_varchar = true, union_by_name = true, delim = ',', "
        "quote = '\"', escape = '\"', ignore_errors = true, filename = 'archive_path')"
    )


def register_identifiers(
    con: duckdb.DuckDBPyConnection, from_batch: bool, dictionary: DataDictionary | None = None
) -> None:
    """NEEDLES := the identifiers of every record known, normalised for matching: those of the
    current archived REDCap exports, and (`from_batch`) those of the REDCap rows being loaded.
    Built from the archive alone, it is kept while the archive's REDCap exports stay the same: a
    night of many cytometry batches spells every birth date once, not once per batch."""
    archived = None if from_batch else "\n".join(_current_archive(con, "redcap"))
    if archived is not None and _signature(con, NEEDLES) == archived:
        return
    # A site's own project's identifiers by flag, validation, name or label, like the canonical ones.
    identifiers = [f for f in (dictionary or project_dictionary()).fields if identifying(f) and f.name != RECORD_ID]
    names = [f.name for f in identifiers]
    con.execute("CREATE OR REPLACE TEMP TABLE _identifier_kinds (field VARCHAR, kind VARCHAR)")
    insert_rows(con, "_identifier_kinds", [(f.name, _kind(f)) for f in identifiers])
    parts = []
    if from_batch:  # the batch's rows have their sites (cartwh.ingest.keys.register_patient_keys)
        header = {r[0] for r in con.execute(f"DESCRIBE {ROWS}").fetchall()}
        parts += [
            f"SELECT s.site, s.record_id, {quote_literal(f)}, {quote(f)} FROM {ROWS} "
            f"JOIN {ROW_SITES} s ON s.load_id = _load_id AND s.row = _row"
            for f in names
            if f in header
        ]
    parts.append(f"SELECT * FROM {_archived_identifiers(con, names)}")
    union = " UNION ALL ".join(parts)
    # A row without a site (quarantined for that) is matched with the identifiers of its record
    # among the rows without a site: '' stands for none, as NULL would join nothing.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _identifiers AS
                    SELECT DISTINCT coalesce(site, '') AS site, record_id, field, value FROM ({union}) t(site, record_id, field, value)
                    WHERE record_id IS NOT NULL AND trim(value) <> ''""")
    dated = [f.name for f in identifiers if f.sql_type == "DATE"]
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _birth_dates AS SELECT site, record_id, min(TRY_CAST(trim(value) AS DATE)) AS born
            FROM _identifiers WHERE field IN ({_listed(dated)}) GROUP BY ALL HAVING born IS NOT NULL"""
    )
    days = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT TRY_CAST(value AS DATE) FROM _identifiers WHERE field IN ({_listed(dated)})"
        ).fetchall()
    ]
    con.execute("CREATE OR REPLACE TEMP TABLE _date_spellings (day DATE, mode VARCHAR, spelling VARCHAR)")
    # A BC or infinite date comes back from DuckDB as text: nobody writes it elsewhere, and it is
    # quarantined as a date anyway (cartwh/contract/dates.py).
    spelled = [day for day in days if isinstance(day, date)]
    insert_rows(con, "_date_spellings", [(day, mode, s) for day in spelled for mode, s in date_spellings(day)])
    particles = _listed(_NAME_PARTICLES)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {NEEDLES} AS
            WITH texts AS (SELECT * FROM _identifiers WHERE field NOT IN ({_listed(dated)})),
            words AS (SELECT site, record_id, field, unnest(string_split(trim({words_sql("value")}), ' ')) AS word
                      FROM texts),
            compact AS (SELECT site, record_id, field, {compact_sql("value")} AS c FROM texts),
            needles AS (
                SELECT DISTINCT site, record_id, field, 'word' AS mode, ' ' || word || ' ' AS needle FROM words
                    WHERE length(word) >= 3 AND word NOT IN ({particles})
                UNION SELECT site, record_id, field, 'compact', c FROM compact WHERE length(c) >= 5
                UNION SELECT site, record_id, field, 'compact', ltrim(c, '0') FROM compact WHERE length(ltrim(c, '0')) >= 5
                UNION SELECT site, record_id, field, 'compact', {compact_sql("value")} FROM _identifiers
                      WHERE field IN ({_listed(dated)}) AND length({compact_sql("value")}) >= 6  -- also as typed, if no date
                UNION SELECT i.site, i.record_id, i.field, s.mode,
                             CASE s.mode WHEN 'word' THEN {words_sql("s.spelling")} ELSE {compact_sql("s.spelling")} END
                      FROM _identifiers i JOIN _date_spellings s ON s.day = TRY_CAST(i.value AS DATE)
                      WHERE i.field IN ({_listed(dated)}))
            SELECT *, CASE mode WHEN 'word' THEN split_part(trim(needle), ' ', 1) END AS first_word FROM needles"""
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {NEEDLES}_of AS SELECT ?::VARCHAR AS signature", [archived])


def register_tube_records(con: duckdb.DuckDBPyConnection) -> None:
    """_tube_records := (fcs_file, site, record_id) of every tube of the current archived
    manifests: the record a statistics row belongs to."""
    paths = _current_archive(con, "cytometry_manifest")
    select = "SELECT NULL::VARCHAR AS fcs_file, NULL::VARCHAR AS site, NULL::VARCHAR AS record_id WHERE FALSE"
    if paths:
        scan = _read_archived(paths)
        present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
        site = site_sql("site" if "site" in present else "NULL", "a.site")
        select = (
            f"SELECT DISTINCT trim(fcs_file) AS fcs_file, coalesce({site}, '') AS site, trim(record_id) AS record_id "
            f"FROM {scan} JOIN _archive_sites a USING (archive_path)"
        )
    _cached(con, "_tube_records", paths, select)


def quarantine_identifiers(
    con: duckdb.DuckDBPyConnection, text_columns: dict[str, str | None], records_sql: str
) -> None:
    """Add a problem for every text column of a row (`text_columns`: column -> scope) and every
    quarantined value that holds its record's identifiers, and forget those values.
    `records_sql` selects (_load_id, _row, site, record_id) for the rows of ROWS."""
    header = {r[0] for r in con.execute(f"DESCRIBE {ROWS}").fetchall()}
    columns = [c for c in text_columns if c in header]
    texts = [
        f"SELECT _load_id, _row, {quote_literal(c)}, {quote_literal(text_columns[c])}, {quote(c)} FROM {ROWS} "
        f"WHERE {quote(c)} IS NOT NULL"
        for c in columns
    ]
    texts.append(f"SELECT load_id, row, column_name, scope, value FROM {PROBLEMS} WHERE value IS NOT NULL")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _identifier_hits AS
            WITH records AS (
                SELECT load_id, row, coalesce(site, '') AS site, record_id
                FROM ({records_sql}) r(load_id, row, site, record_id) WHERE record_id IS NOT NULL),
            scanned AS (
                SELECT s.*, r.site, r.record_id, {words_sql("s.v")} AS words, {compact_sql("s.v")} AS compact
                FROM ({" UNION ALL ".join(texts)}) s(load_id, row, column_name, scope, v) JOIN records r USING (load_id, row)),
            scanned_words AS (SELECT *, unnest(string_split(trim(words), ' ')) AS word FROM scanned),
            words AS (SELECT s.load_id, s.row, s.column_name, s.scope, n.field
                      FROM scanned_words s JOIN {NEEDLES} n
                        ON n.site = s.site AND n.record_id = s.record_id AND n.first_word = s.word
                      WHERE n.mode = 'word' AND contains(s.words, n.needle)),
            compacts AS (SELECT s.load_id, s.row, s.column_name, s.scope, n.field
                         FROM scanned s JOIN {NEEDLES} n USING (site, record_id)
                         WHERE n.mode = 'compact' AND contains(s.compact, n.needle))
            SELECT DISTINCT * FROM (SELECT * FROM words UNION ALL SELECT * FROM compacts)"""
    )
    con.execute(
        f"""UPDATE {PROBLEMS} p SET value = NULL FROM _identifier_hits h
            WHERE p.load_id = h.load_id AND p.row = h.row AND p.column_name = h.column_name"""
    )
    con.execute(
        f"""INSERT INTO {PROBLEMS}
            SELECT DISTINCT h.load_id, h.row, h.scope, h.column_name, 'holds the record''s ' || k.kind, NULL
            FROM _identifier_hits h JOIN _identifier_kinds k USING (field)"""
    )


def quarantine_birth_dates(
    con: duckdb.DuckDBPyConnection, date_columns: dict[str, str | None], records_sql: str
) -> None:
    """Add a problem for every date of a row (`date_columns`: column -> scope) that is its
    record's birth date (the value not kept): a birth date typed or mapped where a date of care
    belongs, an identifier where none may be. A date *before* the birth date is a wrong date, not
    an identifier: the timeline windows of the data-quality suites name it (a site's own project
    may hold dates that precede its patient, a parent's or an earlier record's). The birth dates
    are the batch's and the archive's (register_identifiers); `records_sql` as for
    quarantine_identifiers."""
    header = {r[0] for r in con.execute(f"DESCRIBE {ROWS}").fetchall()}
    dates = [
        f"SELECT _load_id, _row, {quote_literal(c)}, {quote_literal(date_columns[c])}, trim({quote(c)}) FROM {ROWS} "
        f"WHERE {quote(c)} IS NOT NULL"
        for c in date_columns
        if c in header
    ]
    if not dates:
        return
    con.execute(
        f"""INSERT INTO {PROBLEMS}
            WITH records AS (
                SELECT load_id, row, coalesce(site, '') AS site, record_id
                FROM ({records_sql}) r(load_id, row, site, record_id) WHERE record_id IS NOT NULL),
            written AS (SELECT *, TRY_CAST(v AS DATE) AS day
                        FROM ({" UNION ALL ".join(dates)}) d(load_id, row, column_name, scope, v))
            SELECT w.load_id, w.row, w.scope, w.column_name, 'holds the record''s birth date', NULL
            FROM written w JOIN records r USING (load_id, row) JOIN _birth_dates b USING (site, record_id)
            WHERE w.day = b.born"""
    )


def _kind(field) -> str:
    """What a reason calls an identifier field: name, MRN, birth date, or its own name."""
    return _KIND.get(what_it_identifies(field) or "") or field.name.replace("_", " ")


def _listed(values) -> str:
    return ", ".join(quote_literal(v) for v in values) or "NULL"

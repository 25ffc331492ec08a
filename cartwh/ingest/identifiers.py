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
from cartwh.contract.redcap import DATA_ACCESS_GROUP, RECORD_ID, DataDictionary
from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.ingest.csv_reader import BATCH, ROWS
from cartwh.ingest.keys import ROW_SITES, declared_site, site_sql
from cartwh.ingest.validation import PROBLEMS
from cartwh.ingest.warehouse import LANDED_FILES, insert_rows, quote, quote_literal

# (sha256, site, record_id, field, mode, needle, first_word): what a record's text must not hold
NEEDLES = "_identifier_needles"
BATCH_NEEDLES = "_batch_needles"  # those of the REDCap rows being loaded
BATCH_BIRTH_DATES = "_batch_birth_dates"  # (sha256, site, record_id, born) of the REDCap rows being loaded
# Kept between runs, per file version (sha256), in the restricted area (cartwh.ingest.known_records):
KNOWN_NEEDLES = "known.needles"  # the needles of each REDCap export version
KNOWN_BIRTH_DATES = "known.birth_dates"  # (sha256, site, record_id, born) of each REDCap export version
KNOWN_TUBES = "known.tube_records"  # (sha256, fcs_file, site, record_id) of each manifest version
KNOWN_VERSIONS = "known.versions"  # (sha256, source): the versions whose entries are in
# A version's archived copy under the archive this ingestion works with (cartwh.ingest.load sets
# the variable): the archive is content-addressed, so a data folder moved or restored elsewhere
# still finds its copies, and the ingestion connection reaches no other folder (cartwh.warehouse.connection.confine).
ARCHIVED_PATH = "getvariable('archive') || '/' || regexp_extract(archive_path, '[^/]+/[^/]+$')"
# Where each source's exports land (as cartwh.ingest.sources declares): the folder below is a site.
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


def archived_identifiers(con: duckdb.DuckDBPyConnection, versions: list[tuple[str, str, str]]) -> None:
    """_identifiers := (sha256, site, record_id, field, value) of the canonical identifier fields
    of archived REDCap exports (sha256, archive path, landed name)."""
    fields = [f.name for f in project_dictionary().fields if identifying(f) and f.name != RECORD_ID]
    select = "SELECT NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR WHERE FALSE"
    if versions:
        scan = _read_archived(con, versions, "redcap")
        present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
        fields = [f for f in fields if f in present]
        site = site_sql(quote(DATA_ACCESS_GROUP) if DATA_ACCESS_GROUP in present else "NULL", "a.site")
        if RECORD_ID in present and fields:
            select = " UNION ALL ".join(
                f"SELECT a.sha256, {site}, trim({RECORD_ID}), {quote_literal(f)}, {quote(f)} FROM {scan} "
                "JOIN _archive_sites a USING (archive_path)"
                for f in fields
            )
    _identifiers(con, select)


def _identifiers(con: duckdb.DuckDBPyConnection, select: str) -> None:
    """_identifiers := the identifier values `select` gives (sha256, site, record_id, field, value)
    that can be matched: a record id and a value. A row without a site (quarantined for that) is
    matched with the identifiers of its record among the rows without a site: '' stands for
    none, as NULL would join nothing."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _identifiers AS
                    SELECT DISTINCT sha256, coalesce(site, '') AS site, record_id, field, value
                    FROM ({select}) t(sha256, site, record_id, field, value)
                    WHERE record_id IS NOT NULL AND trim(value) <> ''""")


def _read_archived(con: duckdb.DuckDBPyConnection, versions: list[tuple[str, str, str]], source: str) -> str:
    """A text scan of archived exports (sha256, archive path, landed name), for looking values up
    only (rows that cannot be split were quarantined when their file was loaded); _archive_sites
    := each one's checksum and the site it declares."""
    con.execute("CREATE OR REPLACE TEMP TABLE _archive_sites (sha256 VARCHAR, archive_path VARCHAR, site VARCHAR)")
    insert_rows(
        con,
        "_archive_sites",
        [(sha, path, declared_site(_landing_folder(name, _SOURCE_FOLDERS[source]))) for sha, path, name in versions],
    )
    listed = "[" + ", ".join(quote_literal(path) for _, path, _ in versions) + "]"
    return (
        f"read_csv({listed}, header = true, all_varchar = true, union_by_name = true, delim = ',', "
        "quote = '\"', escape = '\"', ignore_errors = true, filename = 'archive_path')"
    )


def _landing_folder(file: str, source_folder: str) -> str | None:
    """The folder right below the source's folder that a landed file sits in, None at the top."""
    below = PurePosixPath(file).relative_to(source_folder).parts
    return below[0] if len(below) > 1 else None


def _current(source: str) -> str:
    """SQL: the checksums of the source's current file versions."""
    return f"SELECT sha256 FROM {LANDED_FILES} WHERE source = {quote_literal(source)} AND superseded_by IS NULL"


def register_identifiers(
    con: duckdb.DuckDBPyConnection, from_batch: bool, dictionary: DataDictionary | None = None
) -> None:
    """NEEDLES := the identifiers of every record known, normalised for matching: those of the
    current REDCap exports (kept between runs in the restricted area, KNOWN_NEEDLES) and
    (`from_batch`) those of the REDCap rows being loaded (BATCH_NEEDLES, which cartwh.ingest.
    known_records keeps once the batch committed). With `from_batch`, _birth_dates := each
    record's birth date, of the current exports and the batch alike (quarantine_birth_dates)."""
    # A site's own project's identifiers by flag, validation, name or label, like the canonical ones.
    fields = {f.name: f for d in (project_dictionary(), dictionary or project_dictionary()) for f in d.fields}
    identifiers = [f for f in fields.values() if identifying(f) and f.name != RECORD_ID]
    con.execute("CREATE OR REPLACE TEMP TABLE _identifier_kinds (field VARCHAR, kind VARCHAR)")
    insert_rows(con, "_identifier_kinds", [(f.name, _kind(f)) for f in identifiers])
    _copied(con, "_known_needles", "redcap", f"SELECT * FROM {KNOWN_NEEDLES}")
    if not from_batch:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {NEEDLES} AS SELECT * FROM _known_needles")
        return
    header = {r[0] for r in con.execute(f"DESCRIBE {ROWS}").fetchall()}
    # The batch's rows have their sites (cartwh.ingest.keys.register_patient_keys).
    parts = [
        f"SELECT b.checksum, s.site, s.record_id, {quote_literal(f.name)}, {quote(f.name)} FROM {ROWS} "
        f"JOIN {ROW_SITES} s ON s.load_id = _load_id AND s.row = _row JOIN {BATCH} b ON b.load_id = _load_id"
        for f in identifiers
        if f.name in header
    ]
    _identifiers(con, " UNION ALL ".join(parts) or "SELECT NULL, NULL, NULL, NULL, NULL WHERE FALSE")
    dated = [f.name for f in identifiers if f.sql_type == "DATE"]
    needles(con, BATCH_NEEDLES, dated)
    birth_dates(con, BATCH_BIRTH_DATES, dated)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {NEEDLES} AS SELECT * FROM _known_needles UNION ALL SELECT * FROM {BATCH_NEEDLES}"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _birth_dates AS SELECT site, record_id, min(born) AS born
            FROM (SELECT * FROM {KNOWN_BIRTH_DATES} WHERE sha256 IN ({_current("redcap")})
                  UNION ALL SELECT * FROM {BATCH_BIRTH_DATES}) GROUP BY ALL"""
    )


def birth_dates(con: duckdb.DuckDBPyConnection, table: str, dated: list[str]) -> None:
    """Temp table `table` := (sha256, site, record_id, born): the birth date of each record of
    _identifiers, its earliest if it has several; `dated`: the fields that hold birth dates."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {table} AS
            SELECT sha256, site, record_id, min(TRY_CAST(trim(value) AS DATE)) AS born
            FROM _identifiers WHERE field IN ({_listed(dated)}) GROUP BY ALL HAVING born IS NOT NULL"""
    )


def needles(con: duckdb.DuckDBPyConnection, table: str, dated: list[str]) -> None:
    """Temp table `table` := the needles (sha256, site, record_id, field, mode, needle, first_word)
    of _identifiers; `dated`: the fields that hold dates (birth date), looked for in every spelling."""
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
    # each day's spellings normalised once, not once per record born that day
    con.execute(
        "UPDATE _date_spellings "
        f"SET spelling = CASE mode WHEN 'word' THEN {words_sql('spelling')} ELSE {compact_sql('spelling')} END"
    )
    particles = _listed(_NAME_PARTICLES)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {table} AS
            WITH texts AS (SELECT * FROM _identifiers WHERE field NOT IN ({_listed(dated)})),
            words AS (SELECT sha256, site, record_id, field,
                             unnest(string_split(trim({words_sql("value")}), ' ')) AS word
                      FROM texts),
            compact AS (SELECT sha256, site, record_id, field, {compact_sql("value")} AS c FROM texts),
            needles AS (
                SELECT DISTINCT sha256, site, record_id, field, 'word' AS mode, ' ' || word || ' ' AS needle FROM words
                    WHERE length(word) >= 3 AND word NOT IN ({particles})
                UNION SELECT sha256, site, record_id, field, 'compact', c FROM compact WHERE length(c) >= 5
                UNION SELECT sha256, site, record_id, field, 'compact', ltrim(c, '0') FROM compact
                      WHERE length(ltrim(c, '0')) >= 5
                UNION SELECT sha256, site, record_id, field, 'compact', {compact_sql("value")} FROM _identifiers
                      WHERE field IN ({_listed(dated)}) AND length({compact_sql("value")}) >= 6  -- also as typed, if no date
                UNION SELECT i.sha256, i.site, i.record_id, i.field, s.mode, s.spelling
                      FROM _identifiers i JOIN _date_spellings s ON s.day = TRY_CAST(i.value AS DATE)
                      WHERE i.field IN ({_listed(dated)}))
            SELECT *, CASE mode WHEN 'word' THEN split_part(trim(needle), ' ', 1) END AS first_word FROM needles"""
    )


def register_tube_records(con: duckdb.DuckDBPyConnection) -> None:
    """_tube_records := (sha256, fcs_file, site, record_id) of every tube of the current manifests (kept
    between runs in the restricted area, KNOWN_TUBES): the record a statistics row belongs to."""
    _copied(con, "_tube_records", "cytometry_manifest", f"SELECT sha256, fcs_file, site, record_id FROM {KNOWN_TUBES}")


def _copied(con: duckdb.DuckDBPyConnection, table: str, source: str, select: str) -> None:
    """Temp table `table` := the rows of `select` (of the store, sha256 first) whose version is
    current for `source`, kept in step rather than copied again: a night's batches scan it in
    memory, and each version is read from the store once (a batch that commits changes the current
    versions, and a registry's night has dozens of batches). `<table>_versions` lists its versions."""
    versions = f"{table}_versions"
    if not con.execute("SELECT 1 FROM duckdb_tables() WHERE temporary AND table_name = ?", [versions]).fetchall():
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM ({select}) WHERE FALSE")
        con.execute(f"CREATE TEMP TABLE {versions} (sha256 VARCHAR)")
    current = {r[0] for r in con.execute(_current(source)).fetchall()}
    held = {r[0] for r in con.execute(f"SELECT sha256 FROM {versions}").fetchall()}
    if gone := sorted(held - current):
        con.execute(f"DELETE FROM {table} WHERE sha256 IN ({_listed(gone)})")
        con.execute(f"DELETE FROM {versions} WHERE sha256 IN ({_listed(gone)})")
    if new := sorted(current - held):
        con.execute(f"INSERT INTO {table} SELECT * FROM ({select}) WHERE sha256 IN ({_listed(new)})")
        insert_rows(con, versions, [(sha,) for sha in new])


def archived_tube_records(con: duckdb.DuckDBPyConnection, versions: list[tuple[str, str, str]]) -> str:
    """SQL: (sha256, fcs_file, site, record_id) of every tube of archived manifests (sha256,
    archive path, landed name)."""
    scan = _read_archived(con, versions, "cytometry_manifest")
    present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
    rows = f"(SELECT * FROM {scan}) m JOIN _archive_sites a USING (archive_path)"
    return tube_records(rows, "a.sha256", "m.site" if "site" in present else None, "a.site")


def tube_records(rows: str, sha256: str, own_site: str | None, declared: str) -> str:
    """SQL: (sha256, fcs_file, site, record_id) of the manifest rows `rows` (as `m`), each tube's
    site its own site column (`own_site`) where it has one, else the one its file declares."""
    site = site_sql(own_site or "NULL", declared)
    return (
        f"SELECT DISTINCT {sha256} AS sha256, trim(m.fcs_file) AS fcs_file, coalesce({site}, '') AS site, "
        f"trim(m.record_id) AS record_id FROM {rows} WHERE m.fcs_file IS NOT NULL"
    )


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
            texts AS (
                SELECT s.*, r.site, r.record_id
                FROM ({" UNION ALL ".join(texts)}) s(load_id, row, column_name, scope, v) JOIN records r USING (load_id, row)),
            -- each text once per record: a manifest's instrument and panel repeat on every row
            scanned AS (SELECT site, record_id, v, {words_sql("v")} AS words, {compact_sql("v")} AS compact
                        FROM (SELECT DISTINCT site, record_id, v FROM texts)),
            needles AS MATERIALIZED (SELECT * FROM {NEEDLES} SEMI JOIN records USING (site, record_id)),
            scanned_words AS (SELECT *, unnest(string_split(trim(words), ' ')) AS word FROM scanned),
            words AS (SELECT s.site, s.record_id, s.v, n.field
                      FROM scanned_words s JOIN needles n
                        ON n.site = s.site AND n.record_id = s.record_id AND n.first_word = s.word
                      WHERE n.mode = 'word' AND contains(s.words, n.needle)),
            compacts AS (SELECT s.site, s.record_id, s.v, n.field
                         FROM scanned s JOIN needles n USING (site, record_id)
                         WHERE n.mode = 'compact' AND contains(s.compact, n.needle)),
            hits AS (SELECT * FROM words UNION SELECT * FROM compacts)
            SELECT DISTINCT t.load_id, t.row, t.column_name, t.scope, h.field
            FROM texts t JOIN hits h USING (site, record_id, v)"""
    )
    con.execute(
        f"""UPDATE {PROBLEMS} p SET value = NULL FROM _identifier_hits h
            WHERE p.load_id = h.load_id AND p.row = h.row AND p.column_name = h.column_name"""
    )
    con.execute(
        f"""INSERT INTO {PROBLEMS}
            SELECT DISTINCT h.load_id, h.row, h.scope, h.column_name,
                   'holds the record''s ' || coalesce(k.kind, replace(h.field, '_', ' ')), NULL
            FROM _identifier_hits h LEFT JOIN _identifier_kinds k USING (field)"""
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

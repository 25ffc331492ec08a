"""Patients at the door: record ids become keyed-hash pseudonyms of (site, record id), and the
key they are made with is checked against the one the warehouse was built with.

The site of a row is its own site column (REDCap's `redcap_data_access_group`, a manifest's
`site`) where it has a value, otherwise what the landing declares: the folder right below the
source's folder (`redcap/<site>/…`, `cytometry/manifests/<SITE>/…`), otherwise CARTWH_SITE, the
site of a single-site programme. Sites compare trimmed and lower-cased, so the lab's `HUVR`
folder is REDCap's `huvr` group.

Within one REDCap project a record id names one record (REDCap numbers records per project), so a
record that turns up under another site than before has moved between data access groups: its
rows are quarantined, naming both sites, and it is not re-keyed. A project is the folder right
below `redcap/`, or `redcap/` itself for exports that land there directly. And a site's records
come from one project: a record of a site fed by a second project (folders differing only by
case, a site's folder beside its group in the central project) is quarantined, not merged.
"""

from __future__ import annotations

import duckdb

from cartwh import settings
from cartwh.contract.redcap import RECORD_ID
from cartwh.ingest.csv_reader import ROWS, ExportFile
from cartwh.ingest.validation import PROBLEMS
from cartwh.ingest.warehouse import LANDED_FILES, insert_rows, quote, quote_literal
from cartwh.pseudonym import PseudonymKeyError, key_fingerprint, pseudonymise, secret
from cartwh.warehouse.schema import ensure_schema

ROW_KEYS = (
    "_row_patient_keys"  # (load_id, row, site, patient_key, record_id) of the batch; empty when it names no patient
)
KEY_FINGERPRINT = "raw.pseudonym_key"  # the fingerprint of the key every patient_key was made with
RECORD_SITES = "raw.redcap_record_sites"  # (record_key, site): where each REDCap record of a project was first seen
PATIENT_PROJECTS = (
    "raw.redcap_patient_projects"  # (patient_key, project): the one REDCap project a site's record comes from
)
SITE_PATTERN = "[a-z0-9_.-]+"  # REDCap's unique group names and plain folder names; never the pseudonym's separator
ROW_SITES = "_row_sites"  # (load_id, row, record_id, site, project, key_site) of the batch


class PseudonymKeyMismatch(PseudonymKeyError):
    """The current key is not the one the warehouse's patient keys were made with."""


_REBUILD = (
    "If the key was rotated on purpose, run `cartwh rebuild`: it builds a fresh warehouse from the archive, "
    "every patient keyed under the current key. Otherwise set the warehouse's key again "
    "(CARTWH_PSEUDONYM_KEY_FILE or CARTWH_PSEUDONYM_KEY)."
)


def check_pseudonym_key(con: duckdb.DuckDBPyConnection) -> None:
    """Stop before anything is written if the key differs from the warehouse's; record the
    fingerprint in a warehouse that holds nothing yet."""
    # The run's first write: from here on the fixed tables exist, whoever opened the connection
    # (cartwh's connect() applies the schema too; a plain Dagster DuckDBResource does not).
    ensure_schema(con)
    current = key_fingerprint(secret())
    stored = con.execute(f"SELECT fingerprint FROM {KEY_FINGERPRINT}").fetchall()
    if stored and stored[0][0] != current:
        raise PseudonymKeyMismatch(
            "The pseudonym key differs from the one this warehouse was built with: ingesting under "
            "it would make every patient a new one, so nothing was ingested. " + _REBUILD
        )
    if stored:
        return
    if con.execute(f"SELECT count(*) FROM {LANDED_FILES}").fetchall()[0][0]:
        raise PseudonymKeyMismatch(
            "This warehouse was built before its pseudonym key was recorded (and before patients "
            "were keyed per site), so nothing was ingested. Run `cartwh rebuild` once: it re-keys "
            "every patient from the archive under the current key."
        )
    con.execute(f"INSERT INTO {KEY_FINGERPRINT} VALUES (?, current_timestamp)", [current])


def reset_row_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Start each batch with no row keys, so quarantine rows never borrow a previous batch's."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {ROW_KEYS} (load_id BIGINT, row BIGINT, site VARCHAR, patient_key VARCHAR, "
        "record_id VARCHAR)"
    )  # the record id only for the restricted record map (cartwh.ingest.record_map)


def register_patient_keys(
    con: duckdb.DuckDBPyConnection, files: list[ExportFile], site_column: str, track_moves: bool = False
) -> None:
    """ROW_KEYS := every row's site and patient key; rows without a usable site get a problem.
    With `track_moves` (REDCap), a record seen under another site of its project, or from another
    project of its site, is a problem."""
    key = secret()
    _row_sites(con, files, site_column)
    if track_moves:
        _check_moves(con, key, site_column)
    pairs = con.execute(f"SELECT DISTINCT key_site, record_id FROM {ROW_SITES} WHERE key_site IS NOT NULL").fetchall()
    con.execute("CREATE OR REPLACE TEMP TABLE _site_keys (site VARCHAR, record_id VARCHAR, patient_key VARCHAR)")
    insert_rows(con, "_site_keys", [(s, r, pseudonymise(r, key, site=s)) for s, r in pairs])
    con.execute(f"""INSERT INTO {ROW_KEYS} SELECT r.load_id, r.row, r.key_site, k.patient_key, r.record_id
                    FROM {ROW_SITES} r JOIN _site_keys k ON k.site = r.key_site AND k.record_id = r.record_id""")
    if track_moves:
        _check_projects(con)


def declared_site(folder: str | None) -> str | None:
    """The site a landed file declares: the folder right below its source's folder, else CARTWH_SITE."""
    return folder or settings.site()


def site_sql(own: str, declared: str) -> str:
    """A row's site, as patients are keyed: its own site column where that has a value, else the
    site its file declares; trimmed and lower-cased."""
    return f"lower(trim(coalesce(nullif(trim({own}), ''), {declared})))"


def join_keys(rows: str = ROWS) -> str:
    return f"JOIN {ROW_KEYS} k ON k.load_id = {rows}._load_id AND k.row = {rows}._row"


def _row_sites(con, files: list[ExportFile], site_column: str) -> None:
    """ROW_SITES := (load_id, row, record_id, site, project, key_site) of every row with a record id."""
    con.execute("CREATE OR REPLACE TEMP TABLE _file_sites (load_id BIGINT, site VARCHAR, project VARCHAR)")
    insert_rows(con, "_file_sites", [(f.load_id, declared_site(f.folder), f.folder or "") for f in files])
    columns = {r[0] for r in con.execute(f"SELECT name FROM pragma_table_info('{ROWS}')").fetchall()}
    own = f"r.{quote(site_column)}" if site_column in columns else "NULL"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {ROW_SITES} AS
            SELECT r._load_id AS load_id, r._row AS row, trim(r.record_id) AS record_id,
                   {site_sql(own, "f.site")} AS site, f.project
            FROM {ROWS} r JOIN _file_sites f ON f.load_id = r._load_id
            WHERE nullif(trim(r.record_id), '') IS NOT NULL"""
    )
    column = quote_literal(site_column)
    con.execute(
        f"""INSERT INTO {PROBLEMS}
            SELECT load_id, row, NULL, {column}, CASE WHEN site IS NULL OR site = ''
                THEN 'no site: the row has no {site_column} and the landing declares none (a folder named '
                     || 'after the site below the source''s folder, or CARTWH_SITE)'
                ELSE 'not a site name (letters, digits, ''_'', ''-'', ''.'')' END, site
            FROM {ROW_SITES} WHERE NOT coalesce(regexp_full_match(site, '{SITE_PATTERN}'), false)"""
    )
    con.execute(f"""ALTER TABLE {ROW_SITES} ADD COLUMN key_site VARCHAR;
                    UPDATE {ROW_SITES} SET key_site = site WHERE regexp_full_match(site, '{SITE_PATTERN}')""")


def _check_moves(con, key: bytes, site_column: str) -> None:
    """Rows of a record whose site is not the one the record was first seen under in its project
    become problems and keep the first site's patient key; records seen for the first time are
    remembered. The record is named by a keyed hash of (project, record id), never by its id."""
    records = con.execute(f"SELECT DISTINCT project, record_id FROM {ROW_SITES} WHERE key_site IS NOT NULL").fetchall()
    con.execute("CREATE OR REPLACE TEMP TABLE _record_keys (project VARCHAR, record_id VARCHAR, record_key VARCHAR)")
    # ':' is not a site character: a record key never equals a patient key.
    insert_rows(con, "_record_keys", [(p, r, pseudonymise(r, key, site=f"project:{p}")) for p, r in records])
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _record_site AS
            SELECT k.project, k.record_id, k.record_key, coalesce(any_value(s.site), arg_min(r.key_site, (r.load_id, r.row)))
                   AS first_site, min(r.load_id) AS first_load_id, any_value(s.site) IS NOT NULL AS known
            FROM {ROW_SITES} r JOIN _record_keys k USING (project, record_id) LEFT JOIN {RECORD_SITES} s USING (record_key)
            WHERE r.key_site IS NOT NULL GROUP BY ALL"""
    )
    con.execute(
        f"""INSERT INTO {PROBLEMS}
            SELECT r.load_id, r.row, NULL, {quote_literal(site_column)},
                   'the record was at site ''' || f.first_site || ''' and now is at site ''' || r.key_site
                   || ''' (moved between data access groups?): set aside, not re-keyed; check the record''s '
                   || 'data access group in REDCap', r.key_site
            FROM {ROW_SITES} r JOIN _record_site f USING (project, record_id)
            WHERE r.key_site <> f.first_site"""
    )
    con.execute(f"""UPDATE {ROW_SITES} r SET key_site = f.first_site FROM _record_site f
                    WHERE f.project = r.project AND f.record_id = r.record_id""")
    con.execute(
        f"INSERT INTO {RECORD_SITES} SELECT record_key, first_site, first_load_id FROM _record_site WHERE NOT known"
    )


def _check_projects(con) -> None:
    """One site's records come from one REDCap project. Folders that differ only by case
    (`redcap/HVH/`, `redcap/hvh/`) or a site's own project beside the central project's data
    access group for that site (`redcap/huvr/` and `redcap/` with group `huvr`) are one site, and
    each numbers its records on its own: record 1 of both is one patient key, two versions of it
    that nothing orders. So the rows of a record from any project other than the one it was first
    loaded from are quarantined, naming both; the versions are never merged, and the first stays."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _patient_project AS
            SELECT k.patient_key, coalesce(any_value(p.project), arg_min(s.project, (k.load_id, k.row))) AS first_project,
                   min(k.load_id) AS first_load_id, any_value(p.project) IS NOT NULL AS known
            FROM {ROW_KEYS} k JOIN {ROW_SITES} s USING (load_id, row) LEFT JOIN {PATIENT_PROJECTS} p USING (patient_key)
            GROUP BY ALL"""
    )
    reason = (
        "'the record of site ''' || k.site || ''' also comes from another REDCap project, ' || "
        + _project_name("f.first_project")
        + " || ', than this file''s, ' || "
        + _project_name("s.project")
        + " || ' (folders that differ only by case, or a site''s own project beside its data access group of "
        "another project, are one site): its versions conflict, so these rows are set aside, not merged; keep "
        "the site''s records in one project'"
    )
    con.execute(
        f"""INSERT INTO {PROBLEMS}
            SELECT k.load_id, k.row, NULL, {quote_literal(RECORD_ID)}, {reason}, NULL
            FROM {ROW_KEYS} k JOIN {ROW_SITES} s USING (load_id, row) JOIN _patient_project f USING (patient_key)
            WHERE s.project <> f.first_project"""
    )
    con.execute(
        f"INSERT INTO {PATIENT_PROJECTS} SELECT patient_key, first_project, first_load_id FROM _patient_project "
        "WHERE NOT known"
    )


def _project_name(column: str) -> str:
    """SQL: a project folder as a data manager sees it (`redcap/<folder>`, or `redcap/` itself)."""
    return f"(CASE WHEN {column} = '' THEN 'redcap/' ELSE 'redcap/' || {column} END)"

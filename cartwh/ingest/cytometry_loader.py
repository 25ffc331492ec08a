"""Load cytometry exports: sample manifests into raw.cytometry_samples, population
statistics (melted to one row per sample x gate x statistic) into
raw.cytometry_population_stats. Gate paths are kept as exported; staging maps them to
canonical populations through a seed, so a renamed gate is one seed row. FCS file names are
replaced by tube keys (cartwh.ingest.tubes): the name is not stored. Control tubes (FMO,
isotype, ...: the cytometry_control_tubes seed) are recognised by their names: their statistics
rows are skipped and counted, and a manifest row says what kind of tube it is (sample_type)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from cartwh import settings
from cartwh.contract.cytometry import (
    BEADS_PER_TUBE_RANGE,
    MANIFEST_BEAD_COLUMNS,
    MANIFEST_COLUMNS,
    MANIFEST_SAMPLE_TYPE,
    PATIENT_SAMPLE,
    PRE_INFUSION_TIMEPOINTS,
    SAMPLE_COLUMN,
    SAMPLE_VOLUME_UL_RANGE,
    SPECIMENS,
    SUMMARY_ROW_KEYS,
    TIMEPOINT_DAYS,
    control_names,
    is_percent,
)
from cartwh.ingest import statistics_layouts
from cartwh.ingest.csv_reader import ROWS, ExportFile, read_rows, skip_rows
from cartwh.ingest.errors import ExportError
from cartwh.ingest.identifiers import quarantine_identifiers, register_identifiers, register_tube_records
from cartwh.ingest.keys import ROW_KEYS, ROW_SITES, SITE_PATTERN, declared_site, register_patient_keys, site_sql
from cartwh.ingest.tubes import TUBE_KEYS, register_tube_keys
from cartwh.ingest.validation import (
    PROBLEMS,
    VALUES,
    Rule,
    add_duplicate_problems,
    check_rules,
    excluded,
    for_each_file,
    reset_problems,
    unpivot_values,
)
from cartwh.ingest.warehouse import ensure_table, insert_rows, quote, quote_literal

SAMPLES = "raw.cytometry_samples"
STATS = "raw.cytometry_population_stats"
SAMPLES_COLUMNS = {
    "tube_key": "VARCHAR NOT NULL",
    "patient_key": "VARCHAR",  # NULL for a control tube of no record
    "specimen": "VARCHAR",
    "collection_date": "DATE",
    "timepoint": "VARCHAR",
    "instrument": "VARCHAR",
    "panel": "VARCHAR",
    "acquisition_date": "DATE",
    "_load_id": "BIGINT NOT NULL",
    "_source_row": "BIGINT NOT NULL",
    # last, where ensure_table adds them to a warehouse created before bead counting
    "bead_lot": "VARCHAR",
    "beads_per_tube": "DOUBLE",
    "sample_volume_ul": "DOUBLE",
    "sample_type": "VARCHAR",  # patient, or a control tube's kind; NULL in rows loaded before it existed
}
STATS_COLUMNS = {
    "tube_key": "VARCHAR NOT NULL",
    "gate_path": "VARCHAR NOT NULL",
    "statistic": "VARCHAR NOT NULL",
    "value": "DOUBLE NOT NULL",
    "_load_id": "BIGINT NOT NULL",
    "_source_row": "BIGINT NOT NULL",
    "significant_figures": "SMALLINT",
}
# The significant figures of a number as written (after cartwh.ingest.dialects rewrote it with a
# decimal point): leading zeros never count; trailing zeros count after a decimal point, not in a
# mantissa without one (4E+05: 1). NULL for an integer written in full (an event count, exact as
# written) and for zero.
_MANTISSA = "regexp_replace(regexp_replace(trim(x.v), '^[+-]', ''), '[eE].*$', '')"
_SIGNIFICANT_FIGURES = f"""CASE
    WHEN NOT regexp_matches(trim(x.v), '[.eE]') OR ltrim(replace({_MANTISSA}, '.', ''), '0') = '' THEN NULL
    WHEN contains({_MANTISSA}, '.') THEN length(ltrim(replace({_MANTISSA}, '.', ''), '0'))
    ELSE length(rtrim(ltrim({_MANTISSA}, '0'), '0')) END"""
_PATIENT_ROW = f"_sample_type = '{PATIENT_SAMPLE}'"  # what only a patient's tube must say
_MANIFEST_RULES = [
    Rule("fcs_file", required=True),
    Rule("record_id", required=True, required_where=_PATIENT_ROW),
    Rule("specimen", choices=SPECIMENS, required=True, required_where=_PATIENT_ROW),
    Rule("collection_date", "DATE", required=True, required_where=_PATIENT_ROW),
    Rule(
        "timepoint",
        choices=tuple(TIMEPOINT_DAYS) + PRE_INFUSION_TIMEPOINTS,
        required=True,
        required_where=_PATIENT_ROW,
    ),
    Rule("panel", required=True),
    Rule("instrument"),
    Rule("acquisition_date", "DATE"),
    Rule("bead_lot"),
    Rule("beads_per_tube", "DOUBLE", *BEADS_PER_TUBE_RANGE),
    Rule("sample_volume_ul", "DOUBLE", *SAMPLE_VOLUME_UL_RANGE),
]
_MANIFEST_TEXT = (
    "fcs_file",
    "instrument",
    "panel",
    "bead_lot",
)  # text a lab types: checked for the record's identifiers


# FlowJo's table editor writes `.csv` and tab-separated `.txt`; Windows tools may upper-case the
# extension. Excel workbooks (`.xls`, `.xlsx`) are not read: they are not text.
STATISTICS_SUFFIXES = (".csv", ".txt")


def is_statistics_file(path: Path) -> bool:
    return path.suffix.lower() in STATISTICS_SUFFIXES


def create_manifest_table(con: duckdb.DuckDBPyConnection) -> None:
    """raw.cytometry_samples with its full schema, empty until a manifest lands (a table created
    before control tubes were kept required a patient on every row)."""
    ensure_table(con, SAMPLES, SAMPLES_COLUMNS)
    con.execute(f"ALTER TABLE {SAMPLES} ALTER COLUMN patient_key DROP NOT NULL")


def create_statistics_table(con: duckdb.DuckDBPyConnection) -> None:
    """raw.cytometry_population_stats with its full schema, empty until statistics land."""
    ensure_table(con, STATS, STATS_COLUMNS)


def load_manifest(con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> list[str]:
    """Insert the valid rows of a batch of manifests; return the raw tables written."""
    header, structural = read_rows(con, files, known=[*MANIFEST_COLUMNS, *MANIFEST_BEAD_COLUMNS, MANIFEST_SAMPLE_TYPE])
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        raise ExportError(files[0].name, "required manifest column missing", row=1, column=missing[0])
    beads = [c for c in MANIFEST_BEAD_COLUMNS if c in header]  # optional: older manifests have none
    reset_problems(con, structural)
    _sample_types(con, MANIFEST_SAMPLE_TYPE in header)
    unpivot_values(con, list(MANIFEST_COLUMNS) + beads)
    check_rules(con, [r for r in _MANIFEST_RULES if r.column in MANIFEST_COLUMNS or r.column in beads])
    add_duplicate_problems(con, header, ["fcs_file"], "FCS file")
    register_patient_keys(con, files, "site")  # first: a row's record is its (site, record id)
    register_identifiers(con, from_batch=False)
    quarantine_identifiers(con, dict.fromkeys(_MANIFEST_TEXT), f"SELECT load_id, row, site, record_id FROM {ROW_SITES}")
    _tube_sites(con, files, "site" in header)
    register_tube_keys(con, f"SELECT s.site, r.fcs_file FROM {ROWS} r JOIN _tube_sites s USING (_load_id, _row)")
    ensure_table(con, SAMPLES, SAMPLES_COLUMNS)
    bead_values = ", ".join(
        (f"nullif(trim({quote(c)}), '')" if c == "bead_lot" else f"TRY_CAST({quote(c)} AS DOUBLE)")
        if c in beads
        else "NULL"
        for c in MANIFEST_BEAD_COLUMNS
    )
    con.execute(
        f"""INSERT INTO {SAMPLES} ({", ".join(map(quote, SAMPLES_COLUMNS))})
            SELECT t.tube_key, k.patient_key, specimen, TRY_CAST(collection_date AS DATE), timepoint, instrument,
                   panel, TRY_CAST(acquisition_date AS DATE), {ROWS}._load_id, {ROWS}._row, {bead_values}, _sample_type
            FROM {ROWS} JOIN _tube_sites s ON s._load_id = {ROWS}._load_id AND s._row = {ROWS}._row
                 JOIN {TUBE_KEYS} t ON t.fcs_file = {ROWS}.fcs_file AND t.site = s.site
                 LEFT JOIN {ROW_KEYS} k ON k.load_id = {ROWS}._load_id AND k.row = {ROWS}._row
            WHERE {excluded()} ORDER BY {ROWS}._load_id, {ROWS}._row"""
    )
    return [SAMPLES]


def _words(sql: str) -> str:
    """A name as the control tubes' names are matched: lower case, every run of characters other
    than letters and digits one blank, and a blank at each end, so a name is found as whole words."""
    return f"(' ' || trim(regexp_replace(lower({sql}), '[^a-z0-9]+', ' ', 'g')) || ' ')"


def _register_control_names(con: duckdb.DuckDBPyConnection) -> None:
    """_control_names := the seed's control tube names, as words, with their sample types."""
    con.execute("CREATE OR REPLACE TEMP TABLE _control_names (control_words VARCHAR, control_type VARCHAR)")
    insert_rows(con, "_control_names", control_names())
    con.execute(f"UPDATE _control_names SET control_words = {_words('control_words')}")


def _control_type(name_sql: str) -> str:
    """SQL: the kind of control tube a name says (the seed's sample type), NULL for none."""
    return f"(SELECT min(c.control_type) FROM _control_names c WHERE contains({_words(name_sql)}, c.control_words))"


def _sample_types(con: duckdb.DuckDBPyConnection, declared: bool) -> None:
    """ROWS._sample_type := what each manifest row is: its sample_type when it has one (patient, or
    a control's name or kind), else a control when its FCS file name says so, else a patient's
    tube. A sample_type that is neither is a problem (and the row's type NULL)."""
    _register_control_names(con)
    written = f"nullif(trim({ROWS}.{quote(MANIFEST_SAMPLE_TYPE)}), '')" if declared else "NULL"
    patient = quote_literal(PATIENT_SAMPLE)
    con.execute(f"""ALTER TABLE {ROWS} ADD COLUMN _sample_type VARCHAR;
        UPDATE {ROWS} SET _sample_type = CASE
            WHEN {written} IS NULL THEN coalesce({_control_type(f"{ROWS}.fcs_file")}, {patient})
            WHEN {_words(written)} = ' ' || {patient} || ' ' THEN {patient}
            ELSE {_control_type(written)} END""")
    kinds = ", ".join(sorted({kind for _, kind in control_names()}))
    con.execute(
        f"""INSERT INTO {PROBLEMS} SELECT _load_id, _row, NULL, {quote_literal(MANIFEST_SAMPLE_TYPE)},
                   'not a sample type: {PATIENT_SAMPLE}, or a control tube named in the seed cytometry_control_tubes '
                   || '({kinds})', {written} FROM {ROWS} WHERE _sample_type IS NULL"""
    )


def _tube_sites(con: duckdb.DuckDBPyConnection, files: list[ExportFile], site_column: bool) -> None:
    """_tube_sites := the site each manifest row's tube key is made with: its patient's (a row's
    record is its site and record id), else, for a control tube of no record, the site the row
    or its landing declares; a control row without a usable one is a problem."""
    con.execute("CREATE OR REPLACE TEMP TABLE _declared_sites (load_id BIGINT, site VARCHAR)")
    insert_rows(con, "_declared_sites", [(f.load_id, declared_site(f.folder)) for f in files])
    own = f"r.{quote('site')}" if site_column else "NULL"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _tube_sites AS
        SELECT r._load_id, r._row, coalesce(k.site, {site_sql(own, "d.site")}) AS site
        FROM {ROWS} r JOIN _declared_sites d ON d.load_id = r._load_id
             LEFT JOIN {ROW_KEYS} k ON k.load_id = r._load_id AND k.row = r._row""")
    con.execute(
        f"""INSERT INTO {PROBLEMS}
            SELECT s._load_id, s._row, NULL, NULL, 'no site: a control tube of no record, and the landing declares none '
                   || '(a site column, a folder named after the site below cytometry/manifests/, or CARTWH_SITE)', NULL
            FROM _tube_sites s JOIN {ROWS} r USING (_load_id, _row)
            WHERE r._sample_type <> {quote_literal(PATIENT_SAMPLE)}
              AND NOT coalesce(regexp_full_match(s.site, '{SITE_PATTERN}'), false)"""
    )


def load_statistics(con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> list[str]:
    """Insert a batch of population statistics exports, melted; return the raw tables written."""
    header, structural = read_rows(con, files, first_column=SAMPLE_COLUMN)
    layout = statistics_layouts.recognise(header, files[0].name, files[0].folder)
    sample = layout.sample
    summary_keys = ", ".join(map(quote_literal, sorted(SUMMARY_ROW_KEYS)))
    # contract.cytometry.summary_key in SQL: lower case, letters and digits only.
    skip_rows(con, f"regexp_replace(lower({quote(sample)}), '[^a-z0-9]', '', 'g') IN ({summary_keys})", "summary row")
    _register_control_names(con)
    skip_rows(con, f"{_control_type(f'{ROWS}.{quote(sample)}')} IS NOT NULL", "control tube")  # not a patient's sample
    statistics_layouts.build_values(con, layout)
    reset_problems(con, structural + for_each_file(files, layout.notes) + layout.file_notes)
    rules = [Rule(c, required=True) for c in (sample, layout.population) if c] + [
        Rule(column, "DOUBLE", 0, 100 if is_percent(statistic) else None) for column, _, statistic in layout.measures
    ]
    check_rules(con, rules)
    add_duplicate_problems(con, header, layout.key, "FCS file" if len(layout.key) == 1 else "FCS file and population")
    con.execute(f"""INSERT INTO {PROBLEMS} SELECT _load_id, _row, NULL, NULL, 'no statistic in the row', NULL
                    FROM {ROWS} r WHERE NOT EXISTS (SELECT 1 FROM {VALUES} x
                                                   WHERE x._load_id = r._load_id AND x._row = r._row)""")
    register_identifiers(con, from_batch=False)
    register_tube_records(con)
    quarantine_identifiers(
        con,
        {sample: None},
        f"SELECT x._load_id, x._row, t.site, t.record_id FROM {ROWS} x "
        f"JOIN _tube_records t ON t.fcs_file = trim(x.{quote(sample)})",
    )
    _statistics_sites(con, files)
    register_tube_keys(
        con, f"SELECT s.site, r.{quote(sample)} FROM {ROWS} r JOIN _statistics_sites s ON s.load_id = r._load_id"
    )
    ensure_table(con, STATS, STATS_COLUMNS)
    con.execute("CREATE OR REPLACE TEMP TABLE _measures (column_name VARCHAR, gate_path VARCHAR, statistic VARCHAR)")
    insert_rows(con, "_measures", layout.measures)
    con.execute(
        f"""INSERT INTO {STATS} (tube_key, gate_path, statistic, value, _load_id, _source_row, significant_figures)
            SELECT t.tube_key, m.gate_path, m.statistic, CAST(x.v AS DOUBLE), x._load_id, x._row, {_SIGNIFICANT_FIGURES}
            FROM {VALUES} x JOIN _measures m USING (column_name) JOIN _statistics_sites s ON s.load_id = x._load_id
                 JOIN {TUBE_KEYS} t ON t.fcs_file = x._sample AND t.site = s.site
            WHERE {excluded(table="x")}"""
    )
    return [STATS]


def _statistics_sites(con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> None:
    """_statistics_sites := each file's site (its folder, else CARTWH_SITE; lower-cased as sites
    compare), which its tube keys are made with; the rows of a file without one are quarantined,
    since their tubes could not join their manifest."""
    con.execute("CREATE OR REPLACE TEMP TABLE _statistics_sites (load_id BIGINT, site VARCHAR)")
    declared = [(f.load_id, (f.folder or settings.site() or "").strip().lower()) for f in files]
    insert_rows(con, "_statistics_sites", [(i, s) for i, s in declared if re.fullmatch(SITE_PATTERN, s)])
    con.execute(
        f"""INSERT INTO {PROBLEMS}
            SELECT _load_id, _row, NULL, NULL, 'no site: the landing declares none (a folder named after the site below '
                   || 'cytometry/statistics/, or CARTWH_SITE), so the tubes cannot be keyed', NULL
            FROM {ROWS} WHERE _load_id NOT IN (SELECT load_id FROM _statistics_sites)"""
    )

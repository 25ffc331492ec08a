"""Load cytometry exports: sample manifests into raw.cytometry_samples, population statistics
into raw.cytometry_statistic_rows in the shape the lab wrote them, one row per tube (or per
tube x population of a per-tube export) holding its numbers, which raw.cytometry_population_stats
shows one per tube x gate path x statistic. Gate paths are kept as exported; staging maps them
to canonical populations through a seed, so a renamed gate is one seed row. FCS file names are
replaced by tube keys (cartwh.ingest.tubes): the name is not stored.

Statistics are typed and checked row by row in SQL, a column per measure (docs/scaling.md: a
value per row of a long table cost several times the plain load of the same files); a row with
a number that breaks its rule is quarantined with a problem per number, naming its column.
Each number is kept as a DOUBLE and, for its significant figures, as written (with a decimal
point): the figures themselves are counted where they are read (the view; the dbt test of
precision), not for every number at ingestion. Control tubes (FMO, isotype, ...: the
cytometry_control_tubes seed) are recognised by their names: their statistics rows are skipped
and counted, and a manifest row says what kind of tube it is (sample_type)."""

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
)
from cartwh.ingest import statistics_layouts
from cartwh.ingest.csv_reader import ROWS, ExportFile, cells_sql, file_dialect, file_header, read_rows, skip_rows
from cartwh.ingest.dialects import Dialect, number_sql
from cartwh.ingest.errors import ExportError, WarehouseLayoutError
from cartwh.ingest.identifiers import quarantine_identifiers, register_identifiers, register_tube_records
from cartwh.ingest.keys import ROW_KEYS, ROW_SITES, SITE_PATTERN, declared_site, register_patient_keys, site_sql
from cartwh.ingest.statistics_layouts import Layout, Measure, RowShape
from cartwh.ingest.tubes import TUBE_KEYS, register_tube_keys
from cartwh.ingest.validation import (
    PROBLEMS,
    Rule,
    add_duplicate_problems,
    check_required,
    check_rules,
    excluded,
    for_each_file,
    reason_sql,
    reset_problems,
    rule_sql,
    unpivot_values,
)
from cartwh.ingest.warehouse import RawTable, ensure_table, insert_rows, quote, quote_literal

SAMPLES = "raw.cytometry_samples"
STATS = "raw.cytometry_population_stats"  # the view: one row per tube x gate path x statistic
STATS_ROWS = "raw.cytometry_statistic_rows"  # one row per data row of an export
STATS_COLUMNS = "raw.cytometry_statistic_columns"  # each export version's measures, by position
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
STATS_ROWS_COLUMNS = {
    "tube_key": "VARCHAR NOT NULL",
    "gate_path": "VARCHAR",  # the row's population (a per-tube export); NULL: each column names its own
    "statistic": "VARCHAR",  # the row's statistic (one statistic per row); NULL: each column names its own
    "value": "DOUBLE[] NOT NULL",  # one per measure of the export version (STATS_COLUMNS.position)
    "written": "VARCHAR NOT NULL",  # the same numbers as written (decimal point), comma-separated
    "_load_id": "BIGINT NOT NULL",
    "_source_row": "BIGINT NOT NULL",
}
STATS_COLUMNS_COLUMNS = {
    "_load_id": "BIGINT NOT NULL",
    "position": "INTEGER NOT NULL",
    "gate_path": "VARCHAR",  # NULL: the row's
    "statistic": "VARCHAR",  # NULL: the row's
}


def _significant_figures(written: str, value: str) -> str:
    """The significant figures of a number as `written` (SQL text, with a decimal point) whose
    `value` (SQL DOUBLE) it is: leading zeros never count; trailing zeros count after a decimal
    point, not in a mantissa without one (4E+05: 1). NULL for an integer written in full (an event
    count, exact as written) and for zero.
    Worked out for each of a registry's values when read (58 M at 100,000 patients), so the common
    cases build no text: an integer in full (a count) is NULL; a plain decimal (a frequency) has as
    many figures as there are places from its first figure, 10^floor(log10 |value|), down to its
    last written decimal (0.060: places 10^-2 to 10^-3, 2 figures), exact while the text has few
    enough digits for a DOUBLE to tell it from the next power of ten. Other texts (blanks after the
    number, very long decimals, an exponent) are counted from their characters."""
    exponent = f"(contains({written}, 'e') OR contains({written}, 'E'))"
    plain = f"nullif(length(ltrim(replace(rtrim({written}), '.', ''), ' +-0')), 0)"  # sign, blanks, zeros
    places = f"CAST(floor(log10(abs({value}))) AS INTEGER) + 1 + length({written}) - strpos({written}, '.')"
    unsigned = (
        f"(CASE WHEN left(trim({written}), 1) IN ('+', '-') THEN substr(trim({written}), 2) ELSE trim({written}) END)"
    )
    mantissa = f"regexp_replace({unsigned}, '[eE].*$', '')"
    return f"""CASE
        WHEN NOT (contains({written}, '.') OR {exponent}) THEN NULL
        WHEN NOT {exponent} THEN CASE
            WHEN {value} = 0 THEN NULL
            WHEN length({written}) <= 15 AND regexp_full_match(right({written}, 1), '[0-9.]') THEN {places}
            ELSE {plain} END
        WHEN ltrim(replace({mantissa}, '.', ''), '0') = '' THEN NULL
        WHEN contains({mantissa}, '.') THEN length(ltrim(replace({mantissa}, '.', ''), '0'))
        ELSE length(rtrim(ltrim({mantissa}, '0'), '0')) END"""


# Each row's lists are unnested with their positions before the join with the measures: a join
# that kept the lists and indexed them copied a row's written list once per value (58 M values at
# 100,000 patients: 15 s of every build's reads, against 1 s unnested; docs/scaling.md).
_STATS_VIEW = f"""CREATE OR REPLACE VIEW {STATS} AS
    SELECT r.tube_key, coalesce(c.gate_path, r.gate_path) AS gate_path, coalesce(c.statistic, r.statistic) AS statistic,
           r.value, r._load_id, r._source_row, CAST({_significant_figures("r.written", "r.value")} AS SMALLINT) AS significant_figures
    FROM (SELECT tube_key, gate_path, statistic, _load_id, _source_row, unnest(value) AS value,
                 unnest(string_split(written, ',')) AS written, generate_subscripts(value, 1) AS position
          FROM {STATS_ROWS}) r
    JOIN {STATS_COLUMNS} c ON c._load_id = r._load_id AND c.position = r.position
    WHERE r.value IS NOT NULL"""
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
    """The statistics' raw tables and their long view, empty until statistics land. A warehouse
    whose statistics are still the long table of before is refused: `cartwh rebuild` reloads
    them from the archive."""
    kind = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = 'raw' "
        "AND table_name = 'cytometry_population_stats'"
    ).fetchall()
    if kind and kind[0][0] == "BASE TABLE":
        raise WarehouseLayoutError(
            "This warehouse holds its population statistics in the long table of an earlier version, one row "
            "per value; they are now kept as the lab wrote them. Run `cartwh rebuild` once: it reloads them "
            "from the archive."
        )
    ensure_table(con, STATS_ROWS, STATS_ROWS_COLUMNS)
    ensure_table(con, STATS_COLUMNS, STATS_COLUMNS_COLUMNS)
    con.execute(_STATS_VIEW)


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


def _find_controls(con: duckdb.DuckDBPyConnection, name_sql: str) -> None:
    """_controls := (_load_id, _row, control_type) of the rows of ROWS whose name (`name_sql`, over
    ROWS) names a control tube of the seed, as whole words; a row's words are made once and matched
    against every name (a join, not a search per row and name)."""
    con.execute("CREATE OR REPLACE TEMP TABLE _control_names (control_words VARCHAR, control_type VARCHAR)")
    insert_rows(con, "_control_names", control_names())
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _controls AS
        SELECT r._load_id, r._row, min(c.control_type) AS control_type
        FROM (SELECT _load_id, _row, {_words(name_sql)} AS words FROM {ROWS} WHERE {name_sql} IS NOT NULL) r
             JOIN (SELECT {_words("control_words")} AS control_words, control_type FROM _control_names) c
             ON contains(r.words, c.control_words)
        GROUP BY ALL""")


# SQL over ROWS: the kind of control tube the row's name says (_find_controls), NULL for none.
_CONTROL_TYPE = f"(SELECT c.control_type FROM _controls c WHERE c._load_id = {ROWS}._load_id AND c._row = {ROWS}._row)"


def _sample_types(con: duckdb.DuckDBPyConnection, declared: bool) -> None:
    """ROWS._sample_type := what each manifest row is: its sample_type when it has one (patient, or
    a control's name or kind), else a control when its FCS file name says so, else a patient's
    tube. A sample_type that is neither is a problem (and the row's type NULL)."""
    written = f"nullif(trim({ROWS}.{quote(MANIFEST_SAMPLE_TYPE)}), '')" if declared else "NULL"
    patient = quote_literal(PATIENT_SAMPLE)
    _find_controls(con, f"coalesce({written}, {ROWS}.fcs_file)")  # the type written, else the file's name
    con.execute(f"""ALTER TABLE {ROWS} ADD COLUMN _sample_type VARCHAR;
        UPDATE {ROWS} SET _sample_type = CASE
            WHEN {written} IS NULL THEN coalesce({_CONTROL_TYPE}, {patient})
            WHEN {_words(written)} = ' ' || {patient} || ' ' THEN {patient}
            ELSE {_CONTROL_TYPE} END""")
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


def load_statistics(con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> list[RawTable]:
    """Insert a batch of population statistics exports, a row per data row; return the raw table
    written (counted in values, as its view shows them)."""
    dialect = file_dialect(files[0])  # a batch's files are written alike (cartwh.ingest.load._batches)
    layout = statistics_layouts.recognise(file_header(files[0], SAMPLE_COLUMN), files[0].name, files[0].folder)
    header, structural = read_rows(con, files, first_column=SAMPLE_COLUMN, columns=layout.text_columns)
    sample = layout.sample
    summary_keys = ", ".join(map(quote_literal, sorted(SUMMARY_ROW_KEYS)))
    # contract.cytometry.summary_key in SQL: lower case, letters and digits only.
    skip_rows(con, f"regexp_replace(lower({quote(sample)}), '[^a-z0-9]', '', 'g') IN ({summary_keys})", "summary row")
    _find_controls(con, f"{ROWS}.{quote(sample)}")
    skip_rows(con, "(_load_id, _row) IN (SELECT _load_id, _row FROM _controls)", "control tube")  # not a patient's
    cells = cells_sql(dialect.delimiter)
    shape = statistics_layouts.row_shape(con, layout, cells)
    reset_problems(con, structural + for_each_file(files, layout.notes) + layout.file_notes)
    check_required(con, [Rule(c, required=True) for c in (sample, layout.population) if c])
    add_duplicate_problems(
        con,
        header,
        layout.key,
        "FCS file" if len(layout.key) == 1 else "FCS file and population",
        content=f"array_to_string(list_transform(({cells})[1:{len(header)}], lambda c: coalesce(c, chr(0))), chr(31))",
    )
    _typed_rows(con, layout, shape, dialect, header)
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
    create_statistics_table(con)
    con.execute(
        f"""INSERT INTO {STATS_ROWS} (tube_key, gate_path, statistic, value, written, _load_id, _source_row)
            SELECT t.tube_key, x.gate_path, x.statistic, x.value, x.written, x._load_id, x._row
            FROM _typed x JOIN _statistics_sites s ON s.load_id = x._load_id
                 JOIN {TUBE_KEYS} t ON t.fcs_file = x._sample AND t.site = s.site
            WHERE {excluded(table="x")}"""
    )
    insert_rows(
        con,
        STATS_COLUMNS,
        [(f.load_id, i, m.gate_path, m.statistic) for f in files for i, m in enumerate(layout.measures, start=1)],
    )
    return [RawTable(STATS, STATS_ROWS, rows="list_count(value)")]


def _typed_rows(
    con: duckdb.DuckDBPyConnection, layout: Layout, shape: RowShape, dialect: Dialect, header: list[str]
) -> None:
    """_typed := each row's tube, own gate path and statistic, its numbers (`value`, one per
    measure) and the same as written with a decimal point (`written`), in one pass; a problem for
    every number that breaks its rule (a number, not below 0, not above 100 for a percentage),
    found again on the few rows that have one, and for a row without any number."""
    measures = list(enumerate(layout.measures, start=1))
    typed = RowShape("_typed", gate_path="gate_path", statistic="statistic", percent="percent")

    def reason(i: int, measure: Measure, number: str | None = None) -> str:
        rule = rule_sql(Rule(measure.column, "DOUBLE", 0), maximum=_maximum(typed.maximum(measure)))
        return f"CASE WHEN n{i} IS NOT NULL AND {typed.known(measure)} THEN {reason_sql(f'n{i}', rule, number)} END"

    written = {m.column: f"nullif(r._record[{header.index(m.column) + 1}], '')" for m in layout.measures}
    cells = ", ".join(f"{number_sql(dialect, written[m.column])} AS n{i}" for i, m in measures)

    def texts(only: str = "") -> str:
        return (
            f"SELECT r._load_id, r._row, r.{quote(layout.sample)} AS _sample, {shape.gate_path} AS gate_path, "
            f"{shape.statistic} AS statistic, {shape.percent} AS percent, {cells} FROM {shape.from_(only)}"
        )

    numbers = ", ".join(f"TRY_CAST(n{i} AS DOUBLE) AS v{i}" for i, _ in measures)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _typed AS
            SELECT _load_id, _row, _sample, gate_path, statistic,
                   [{", ".join(f"v{i}" for i, _ in measures)}] AS value,
                   concat({", ',', ".join(f"n{i}" for i, _ in measures)}) AS written,
                   coalesce({", ".join(reason(i, m, f"v{i}") for i, m in measures)}) IS NOT NULL AS broken,
                   NOT ({" OR ".join(f"(n{i} IS NOT NULL AND {typed.known(m)})" for i, m in measures)}) AS empty
            FROM (SELECT *, {numbers} FROM ({texts()}))"""
    )
    problems = ", ".join(
        f"{{'column_name': {typed.label(m)}, 'reason': {reason(i, m)}, 'value': n{i}}}" for i, m in measures
    )
    if con.execute("SELECT count(*) FROM _typed WHERE broken").fetchall()[0][0]:  # the few rows with one
        con.execute(
            f"""INSERT INTO {PROBLEMS}
                SELECT _load_id, _row, NULL, p.column_name, p.reason, p.value
                FROM (SELECT _load_id, _row, unnest([{problems}]) AS p
                      FROM ({texts("SELECT _load_id, _row FROM _typed WHERE broken")}))
                WHERE p.reason IS NOT NULL"""
        )
    con.execute(
        f"INSERT INTO {PROBLEMS} SELECT _load_id, _row, NULL, NULL, 'no statistic in the row', NULL FROM _typed WHERE empty"
    )


def _maximum(maximum) -> str:
    """A rule's maximum as SQL: a number, an expression, or none."""
    return "NULL::DOUBLE" if maximum is None else f"({maximum})::DOUBLE"


def store_statistics(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> RawTable:
    """Statistics given one per tube x gate path x statistic (tube key, gate path, statistic,
    value, load id, source row: a gated FCS file's): stored as rows that name their own gate path
    and statistic, each holding one number (written in full: a count as the integer it is)."""
    create_statistics_table(con)
    stored = [
        (tube, gate, statistic, [value], str(int(value)) if float(value).is_integer() else repr(value), load_id, row)
        for tube, gate, statistic, value, load_id, row in rows
    ]
    insert_rows(con, STATS_ROWS, stored)
    insert_rows(con, STATS_COLUMNS, [(load_id, 1, None, None) for load_id in sorted({r[4] for r in rows})])
    return RawTable(STATS, STATS_ROWS, rows="list_count(value)")


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

"""Load cytometry exports: sample manifests into raw.cytometry_samples, population
statistics (melted to one row per sample x gate x statistic) into
raw.cytometry_population_stats. Gate paths are kept as exported; staging maps them to
canonical populations through a seed, so a renamed gate is one seed row. FCS file names are
replaced by tube keys (cartwh.ingest.tubes): the name is not stored."""

from __future__ import annotations

import duckdb

from cartwh.contract.cytometry import (
    MANIFEST_COLUMNS,
    PERCENT_STATISTICS,
    PRE_INFUSION_TIMEPOINTS,
    SAMPLE_COLUMN,
    SPECIMENS,
    STATISTICS,
    SUMMARY_ROW_KEYS,
    TIMEPOINT_DAYS,
    split_column,
)
from cartwh.ingest.csv_reader import ROWS, ExportFile, header_key, read_rows, skip_rows
from cartwh.ingest.errors import ExportError, Problem
from cartwh.ingest.identifiers import quarantine_identifiers, register_identifiers, register_tube_records
from cartwh.ingest.keys import ROW_SITES, join_keys, register_patient_keys
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
    "tube_key": "VARCHAR NOT NULL", "patient_key": "VARCHAR NOT NULL", "specimen": "VARCHAR",
    "collection_date": "DATE", "timepoint": "VARCHAR", "instrument": "VARCHAR", "panel": "VARCHAR",
    "acquisition_date": "DATE", "_load_id": "BIGINT NOT NULL", "_source_row": "BIGINT NOT NULL",
}  # fmt: skip
STATS_COLUMNS = {
    "tube_key": "VARCHAR NOT NULL", "gate_path": "VARCHAR NOT NULL", "statistic": "VARCHAR NOT NULL",
    "value": "DOUBLE NOT NULL", "_load_id": "BIGINT NOT NULL", "_source_row": "BIGINT NOT NULL",
}  # fmt: skip
_MANIFEST_RULES = [
    Rule("fcs_file", required=True),
    Rule("record_id", required=True),
    Rule("specimen", choices=SPECIMENS, required=True),
    Rule("collection_date", "DATE", required=True),
    Rule("timepoint", choices=tuple(TIMEPOINT_DAYS) + PRE_INFUSION_TIMEPOINTS, required=True),
    Rule("panel", required=True),
    Rule("instrument"),
    Rule("acquisition_date", "DATE"),
]
_MANIFEST_TEXT = ("fcs_file", "instrument", "panel")  # text a lab types: checked for the record's identifiers


def create_manifest_table(con: duckdb.DuckDBPyConnection) -> None:
    """raw.cytometry_samples with its full schema, empty until a manifest lands."""
    ensure_table(con, SAMPLES, SAMPLES_COLUMNS)


def create_statistics_table(con: duckdb.DuckDBPyConnection) -> None:
    """raw.cytometry_population_stats with its full schema, empty until statistics land."""
    ensure_table(con, STATS, STATS_COLUMNS)


def load_manifest(con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> list[str]:
    """Insert the valid rows of a batch of manifests; return the raw tables written."""
    header, structural = read_rows(con, files, known=list(MANIFEST_COLUMNS))
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        raise ExportError(files[0].name, "required manifest column missing", row=1, column=missing[0])
    reset_problems(con, structural)
    unpivot_values(con, list(MANIFEST_COLUMNS))
    check_rules(con, _MANIFEST_RULES)
    add_duplicate_problems(con, header, ["fcs_file"], "FCS file")
    register_patient_keys(con, files, "site")  # first: a row's record is its (site, record id)
    register_identifiers(con, from_batch=False)
    quarantine_identifiers(con, dict.fromkeys(_MANIFEST_TEXT), f"SELECT load_id, row, site, record_id FROM {ROW_SITES}")
    register_tube_keys(con, f"SELECT fcs_file FROM {ROWS}")
    ensure_table(con, SAMPLES, SAMPLES_COLUMNS)
    con.execute(
        f"""INSERT INTO {SAMPLES}
            SELECT t.tube_key, k.patient_key, specimen, TRY_CAST(collection_date AS DATE), timepoint, instrument,
                   panel, TRY_CAST(acquisition_date AS DATE), _load_id, _row
            FROM {ROWS} {join_keys()} JOIN {TUBE_KEYS} t USING (fcs_file) WHERE {excluded()} ORDER BY _load_id, _row"""
    )
    return [SAMPLES]


def load_statistics(con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> list[str]:
    """Insert a batch of population statistics exports, melted; return the raw tables written."""
    header, structural = read_rows(con, files)
    name = files[0].name
    sample = header[0]
    if header_key(sample) not in (header_key(SAMPLE_COLUMN), "", "name"):
        raise ExportError(name, f"first column must hold the FCS file names ('{SAMPLE_COLUMN}')", row=1, column=sample)
    measures, notes, seen = [], [], {}
    for column in header[1:]:
        parsed = split_column(column)
        if parsed and parsed[1] in STATISTICS:
            if parsed in seen:  # two spellings of one measure would load as two values of one tube
                raise ExportError(name, f"column appears twice in the header (as {seen[parsed]!r} and {column!r})",
                                  row=1, column=column)  # fmt: skip
            seen[parsed] = column
            measures.append((column, *parsed))
        else:
            notes.append(Problem(1, column, "not a '<gate path> | <statistic>' column of a known statistic: ignored"))
    if not measures:
        raise ExportError(name, "no '<gate path> | <statistic>' columns: not a population statistics export", row=1)
    reset_problems(con, structural + for_each_file(files, notes))
    summary_keys = ", ".join(map(quote_literal, sorted(SUMMARY_ROW_KEYS)))
    # contract.cytometry.summary_key in SQL: lower case, letters and digits only.
    skip_rows(con, f"regexp_replace(lower({quote(sample)}), '[^a-z0-9]', '', 'g') IN ({summary_keys})", "summary row")
    rules = [Rule(sample, required=True)] + [
        Rule(column, "DOUBLE", 0, 100 if statistic in PERCENT_STATISTICS else None) for column, _, statistic in measures
    ]
    unpivot_values(con, [c for c, _, _ in measures], sample=sample)
    check_rules(con, rules)
    add_duplicate_problems(con, header, [sample], "FCS file")
    con.execute(f"""INSERT INTO {PROBLEMS} SELECT _load_id, _row, NULL, NULL, 'no statistic in the row', NULL
                    FROM {ROWS} r WHERE NOT EXISTS (SELECT 1 FROM {VALUES} x
                                                   WHERE x._load_id = r._load_id AND x._row = r._row)""")  # fmt: skip
    register_identifiers(con, from_batch=False)
    register_tube_records(con)
    quarantine_identifiers(con, {sample: None}, f"SELECT x._load_id, x._row, t.site, t.record_id FROM {ROWS} x "
                                                f"JOIN _tube_records t ON t.fcs_file = trim(x.{quote(sample)})")  # fmt: skip
    register_tube_keys(con, f"SELECT {quote(sample)} FROM {ROWS}")
    ensure_table(con, STATS, STATS_COLUMNS)
    con.execute("CREATE OR REPLACE TEMP TABLE _measures (column_name VARCHAR, gate_path VARCHAR, statistic VARCHAR)")
    insert_rows(con, "_measures", measures)
    con.execute(
        f"""INSERT INTO {STATS}
            SELECT t.tube_key, m.gate_path, m.statistic, CAST(x.v AS DOUBLE), x._load_id, x._row
            FROM {VALUES} x JOIN _measures m USING (column_name) JOIN {TUBE_KEYS} t ON t.fcs_file = x._sample
            WHERE {excluded(table="x")}"""
    )
    return [STATS]

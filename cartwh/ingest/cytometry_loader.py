"""Load cytometry exports: sample manifests into raw.cytometry_samples, population
statistics (melted to one row per sample x gate x statistic) into
raw.cytometry_population_stats. Gate paths are kept as exported; staging maps them to
canonical populations through a seed, so a renamed gate is one seed row."""

from __future__ import annotations

import duckdb

from cartwh.contract.cytometry import (
    MANIFEST_COLUMNS,
    PERCENT_STATISTICS,
    PRE_INFUSION_TIMEPOINTS,
    SAMPLE_COLUMN,
    SPECIMENS,
    STATISTICS,
    SUMMARY_ROWS,
    TIMEPOINT_DAYS,
    split_column,
)
from cartwh.ingest.csv_reader import ROWS, ExportFile, read_rows
from cartwh.ingest.errors import ExportError, Problem
from cartwh.ingest.keys import join_keys, register_patient_keys
from cartwh.ingest.validation import (
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
    "fcs_file": "VARCHAR NOT NULL", "patient_key": "VARCHAR NOT NULL", "specimen": "VARCHAR",
    "collection_date": "DATE", "timepoint": "VARCHAR", "instrument": "VARCHAR", "panel": "VARCHAR",
    "acquisition_date": "DATE", "_load_id": "BIGINT NOT NULL", "_source_row": "BIGINT NOT NULL",
}  # fmt: skip
STATS_COLUMNS = {
    "fcs_file": "VARCHAR NOT NULL", "gate_path": "VARCHAR NOT NULL", "statistic": "VARCHAR NOT NULL",
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


def create_manifest_table(con: duckdb.DuckDBPyConnection) -> None:
    """raw.cytometry_samples with its full schema, empty until a manifest lands."""
    ensure_table(con, SAMPLES, SAMPLES_COLUMNS)


def create_statistics_table(con: duckdb.DuckDBPyConnection) -> None:
    """raw.cytometry_population_stats with its full schema, empty until statistics land."""
    ensure_table(con, STATS, STATS_COLUMNS)


def load_manifest(con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> list[str]:
    """Insert the valid rows of a batch of manifests; return the raw tables written."""
    header, structural = read_rows(con, files)
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        raise ExportError(files[0].name, "required manifest column missing", row=1, column=missing[0])
    reset_problems(con, structural)
    unpivot_values(con, list(MANIFEST_COLUMNS))
    check_rules(con, _MANIFEST_RULES)
    add_duplicate_problems(con, header, ["fcs_file"], "FCS file")
    register_patient_keys(con)
    ensure_table(con, SAMPLES, SAMPLES_COLUMNS)
    con.execute(
        f"""INSERT INTO {SAMPLES}
            SELECT fcs_file, k.patient_key, specimen, TRY_CAST(collection_date AS DATE), timepoint, instrument,
                   panel, TRY_CAST(acquisition_date AS DATE), _load_id, _row
            FROM {ROWS} {join_keys()} WHERE {excluded()}"""
    )
    return [SAMPLES]


def load_statistics(con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> list[str]:
    """Insert a batch of population statistics exports, melted; return the raw tables written."""
    header, structural = read_rows(con, files)
    name = files[0].name
    sample = header[0]
    if sample.strip() not in (SAMPLE_COLUMN, "", "Name"):
        raise ExportError(name, f"first column must hold the FCS file names ('{SAMPLE_COLUMN}')", row=1, column=sample)
    measures, notes = [], []
    for column in header[1:]:
        parsed = split_column(column)
        if parsed and parsed[1] in STATISTICS:
            measures.append((column, *parsed))
        else:
            notes.append(Problem(1, column, "not a '<gate path> | <statistic>' column of a known statistic: ignored"))
    if not measures:
        raise ExportError(name, "no '<gate path> | <statistic>' columns: not a population statistics export", row=1)
    reset_problems(con, structural + for_each_file(files, notes))
    con.execute(f"DELETE FROM {ROWS} WHERE trim({quote(sample)}) IN ({', '.join(map(quote_literal, SUMMARY_ROWS))})")
    rules = [Rule(sample, required=True)] + [
        Rule(column, "DOUBLE", 0, 100 if statistic in PERCENT_STATISTICS else None) for column, _, statistic in measures
    ]
    unpivot_values(con, [c for c, _, _ in measures], sample=sample)
    check_rules(con, rules)
    add_duplicate_problems(con, header, [sample], "FCS file")
    ensure_table(con, STATS, STATS_COLUMNS)
    con.execute("CREATE OR REPLACE TEMP TABLE _measures (column_name VARCHAR, gate_path VARCHAR, statistic VARCHAR)")
    insert_rows(con, "_measures", measures)
    con.execute(
        f"""INSERT INTO {STATS}
            SELECT x._sample, m.gate_path, m.statistic, CAST(x.v AS DOUBLE), x._load_id, x._row
            FROM {VALUES} x JOIN _measures m USING (column_name)
            WHERE {excluded(table="x")}"""
    )
    return [STATS]

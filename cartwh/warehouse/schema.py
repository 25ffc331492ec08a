"""The one home of the persistent tables outside dbt: every fixed table that ingestion, the checks,
the reports and the orchestration keep, declared once with its columns, the database it lives in
and whether it belongs to the raw layer's contract (the `raw_contract_version` the dbt models read,
dbt_project.yml; docs/data-contract.md).

`ensure_schema(con)` creates what is missing (CREATE ... IF NOT EXISTS, and ALTER TABLE ... ADD
COLUMN IF NOT EXISTS for a column added after the table first shipped), so a warehouse built by an
older version keeps working and applying it twice is harmless. Writers apply it once when they open
a database: `cartwh.warehouse.connection.connect` for the working warehouse (every connection that
is not read-only), `cartwh.ingest.known_records.attached` for the archive's known-records store,
`cartwh.ingest.record_map` for the record map. No writer creates one of these tables itself; a
table rewritten whole each run (`Table.replaced`) is rewritten by `replace`, in its declared shape.

Read-only connections never write: the analysts' shell, the published copy, the reports and
`cartwh status` may read a warehouse that is empty or older than a table, so they ask `has_table`
(the one such probe) before reading a table that might not be there.

Not in scope: tables whose shape depends on the data, created by their loaders from what they read
(`DATA_SHAPED`): the REDCap forms' raw tables (`raw.redcap_<form>`, from the dictionary; a site's own
`raw.redcap_site_*`), the cytometry tables (`raw.cytometry_*`, from the
contract's columns and a lab's), the statistics' `analytics.*` (from the analysis plan), the dbt
models, and the published copy's tables (copies of the warehouse's published schemas, and the
de-identified `quality` views of cartwh.quality.published_quality).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from cartwh.dbt import manifest

WAREHOUSE = "warehouse"  # the working warehouse (settings.warehouse_path())
KNOWN_RECORDS = "known_records"  # <archive>/known_records.duckdb, attached to the warehouse as `known`
RECORD_MAP = "record_map"  # <archive>/record_ids.duckdb, opened on its own (cartwh.warehouse.record_ids)
DATABASES = (WAREHOUSE, KNOWN_RECORDS, RECORD_MAP)


@dataclass(frozen=True)
class Table:
    name: str  # as the database's writer names it: schema.table in the warehouse, known.table, table
    database: str  # one of DATABASES
    columns: str  # the body of CREATE TABLE: columns, types, constraints
    added: tuple[str, ...] = ()  # columns added after the table shipped: "name TYPE [DEFAULT ...]"
    contract: bool = False  # part of the raw layer the dbt models read (raw_contract_version)
    published: bool = False  # copied into the analysts' copy (cartwh.warehouse.publish)
    replaced: bool = False  # rewritten whole by its writer each time (`replace`), not appended to

    @property
    def schema(self) -> str | None:
        return self.name.split(".")[0] if self.database == WAREHOUSE else None

    def create(self, replace: bool = False) -> str:
        head = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE IF NOT EXISTS"
        adds = "".join(f";\nALTER TABLE {self.name} ADD COLUMN IF NOT EXISTS {c}" for c in self.added)
        return f"{head} {self.name} (\n{self.columns}\n){adds}"


SEQUENCES = {"raw.load_id_seq": "START 1"}  # every landed file version's load_id

TABLES: tuple[Table, ...] = (
    # ---- raw: the raw layer's bookkeeping (docs/data-contract.md sections 1, 2.5, 2.7, 2.8, 5)
    Table(
        "raw.landed_files",
        WAREHOUSE,
        """    load_id BIGINT PRIMARY KEY,
    source VARCHAR NOT NULL,          -- redcap | cytometry_manifest | cytometry_statistics | redcap_deletions
    file VARCHAR NOT NULL,            -- path inside the landing folder: the batch's identity
    sha256 VARCHAR NOT NULL,
    bytes BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    archive_path VARCHAR NOT NULL,
    superseded_by BIGINT              -- a later version of the same file; its rows stay, marked""",
        # Every CSV record of a file version accounted for: records_read = rows_landed +
        # rows_quarantined + records_skipped (docs/data-contract.md section 5). NULL for versions
        # loaded before these columns existed.
        added=("records_read BIGINT", "rows_landed BIGINT", "records_skipped BIGINT"),
        contract=True,
    ),
    Table(
        "raw.quarantine",
        WAREHOUSE,
        """    load_id BIGINT NOT NULL,
    file VARCHAR NOT NULL,
    row BIGINT NOT NULL,
    column_name VARCHAR,
    reason VARCHAR NOT NULL,
    value VARCHAR,                    -- NULL for identifier columns
    patient_key VARCHAR,
    quarantined_at TIMESTAMP NOT NULL DEFAULT current_timestamp""",
        contract=True,
    ),
    # Records deleted in REDCap, one row per record and deletion report (cartwh/ingest/deletions.py):
    # always there, since every REDCap staging model reads it (macro current_rows).
    Table(
        "raw.redcap_deleted_records",
        WAREHOUSE,
        """    site VARCHAR,
    patient_key VARCHAR NOT NULL,
    deleted_since TIMESTAMP,          -- the previous pull's start: deleted after it
    found_at TIMESTAMP NOT NULL,      -- the pull that found the record gone
    _load_id BIGINT NOT NULL,         -- the deletion report's file version
    _source_row BIGINT NOT NULL       -- n + 1 for its n-th record id""",
        contract=True,
    ),
    # The canonical data dictionary, rewritten whole at each run's start (cartwh.ingest.dictionary_tables):
    # staging decodes REDCap's codes by joining them.
    Table(
        "raw.redcap_fields",
        WAREHOUSE,
        """    field_name VARCHAR PRIMARY KEY, form VARCHAR, field_type VARCHAR, label VARCHAR, validation VARCHAR,
    minimum DOUBLE, maximum DOUBLE, identifier BOOLEAN, sql_type VARCHAR""",
        contract=True,
        replaced=True,
    ),
    Table(
        "raw.redcap_choices",
        WAREHOUSE,
        "    field_name VARCHAR, code VARCHAR, label VARCHAR",
        contract=True,
        replaced=True,
    ),
    # The fingerprint of the key every patient_key was made with (cartwh.ingest.keys): one row,
    # written by the first ingestion into an empty warehouse.
    Table("raw.pseudonym_key", WAREHOUSE, "    fingerprint VARCHAR NOT NULL,\n    recorded_at TIMESTAMP NOT NULL"),
    # Where each REDCap record of a project was first seen, by a keyed hash of (project, record id).
    Table(
        "raw.redcap_record_sites",
        WAREHOUSE,
        "    record_key VARCHAR PRIMARY KEY,\n    site VARCHAR NOT NULL,\n    first_load_id BIGINT NOT NULL",
    ),
    # The one REDCap project a patient's records come from.
    Table(
        "raw.redcap_patient_projects",
        WAREHOUSE,
        "    patient_key VARCHAR PRIMARY KEY,\n    project VARCHAR NOT NULL,\n    first_load_id BIGINT NOT NULL",
    ),
    # Which project each REDCap file version was read with (cartwh.warehouse.project_versions).
    Table(
        "raw.landed_file_projects",
        WAREHOUSE,
        """    load_id BIGINT PRIMARY KEY,
    project VARCHAR,
    project_sha256 VARCHAR,
    dictionary_sha256 VARCHAR NOT NULL,
    record_id_field VARCHAR,
    longitudinal BOOLEAN,
    mapped BOOLEAN""",
    ),
    Table(
        "raw.dictionary_fields",
        WAREHOUSE,
        """    dictionary_sha256 VARCHAR,
    position INTEGER,
    field_name VARCHAR,
    form VARCHAR,
    field_type VARCHAR,
    validation VARCHAR,
    choices VARCHAR,
    identifier BOOLEAN""",
    ),
    Table(
        "raw.project_metadata_files", WAREHOUSE, "    project_sha256 VARCHAR,\n    file VARCHAR,\n    sha256 VARCHAR"
    ),
    # What the source folders hold now that no source reads (cartwh.warehouse.unrecognised_files).
    Table(
        "raw.unrecognised_files",
        WAREHOUSE,
        """    source VARCHAR NOT NULL,       -- the source whose folder holds it
    file VARCHAR NOT NULL,         -- path inside the landing folder
    kind VARCHAR NOT NULL,         -- its extension, lower-cased ('no extension')
    bytes BIGINT NOT NULL,
    advice VARCHAR NOT NULL,       -- what it is and what to do
    first_seen TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL""",
    ),
    # Files that could not be read at their source's last ingestion (cartwh.ingest.failed_files).
    Table(
        "raw.ingest_failures",
        WAREHOUSE,
        """    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL,         -- path inside the landing folder
    "row" BIGINT,                  -- where the file could not be read, when known
    column_name VARCHAR,
    message VARCHAR NOT NULL,      -- the whole error: file, row, column and why
    failed_at TIMESTAMP NOT NULL""",
    ),
    # ---- ops: what the orchestration records about itself
    # One row per run (cartwh.night.run_history); `message` is withheld from the published copy.
    Table(
        "ops.run_history",
        WAREHOUSE,
        """    run_id VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR, duration_seconds DOUBLE,
    checks_passed INTEGER, checks_failed INTEGER, blocking_checks_failed INTEGER,
    rows_per_table VARCHAR, step_seconds VARCHAR""",
        added=("message VARCHAR",),
        published=True,
    ),
    # Whether the warehouse was built from the synthetic demo (cartwh.synthetic): one row.
    Table(
        "ops.data_origin",
        WAREHOUSE,
        "    synthetic BOOLEAN NOT NULL,\n    note VARCHAR NOT NULL",
        published=True,
        replaced=True,
    ),
    # ---- quality: the checks' results (expectations/results.py, expectations/source_health.py,
    # cartwh.quality); never published as such (cartwh.quality.published_quality de-identifies them)
    Table(
        "quality.expectation_results",
        WAREHOUSE,
        """    run_id VARCHAR, checked_at TIMESTAMP, suite VARCHAR, guards VARCHAR, scope VARCHAR, rows_validated BIGINT,
    expectation VARCHAR, column_name VARCHAR, severity VARCHAR, why VARCHAR, success BOOLEAN,
    element_count BIGINT, unexpected_count BIGINT, observed VARCHAR""",
        added=("blocks VARCHAR",),  # comma-separated columns
    ),
    Table(
        "quality.failing_rows",
        WAREHOUSE,
        """    run_id VARCHAR, checked_at TIMESTAMP, suite VARCHAR, expectation VARCHAR, column_name VARCHAR,
    severity VARCHAR, why VARCHAR, patient_key VARCHAR, file VARCHAR, source_row BIGINT, value VARCHAR""",
    ),
    Table(
        "quality.validated_loads",
        WAREHOUSE,
        "    load_id BIGINT, suite VARCHAR, run_id VARCHAR, validated_at TIMESTAMP",
    ),
    Table(
        "quality.source_health",
        WAREHOUSE,
        """    run_id VARCHAR, checked_at TIMESTAMP, check_name VARCHAR, subject VARCHAR, observed DOUBLE,
    threshold DOUBLE, message VARCHAR""",
        added=("blocking BOOLEAN DEFAULT true",),
    ),
    Table(
        "quality.root_causes",
        WAREHOUSE,
        """    kind VARCHAR, form VARCHAR, field VARCHAR, reason VARCHAR,
    severity VARCHAR, issues BIGINT, consequences BIGINT, patients VARCHAR""",
        replaced=True,
    ),
    Table(
        "quality.dbt_test_results",
        WAREHOUSE,
        """    run_id VARCHAR, test VARCHAR, models VARCHAR, status VARCHAR,
    severity VARCHAR, failures BIGINT, meaning VARCHAR, message VARCHAR, action VARCHAR""",
        replaced=True,
    ),
    Table(
        "quality.dbt_test_rows",
        WAREHOUSE,
        "    run_id VARCHAR, test VARCHAR, patient_key VARCHAR, tube_key VARCHAR",
        replaced=True,
    ),
    Table(
        "quality.open_issues",
        WAREHOUSE,
        "    root_causes BIGINT, issues BIGINT, blocking BIGINT, warnings BIGINT",
        replaced=True,
    ),
    # ---- the archive's known-records store (cartwh.ingest.known_records), attached as `known`
    Table("known.versions", KNOWN_RECORDS, "    sha256 VARCHAR, source VARCHAR"),
    Table(
        "known.needles",
        KNOWN_RECORDS,
        "    sha256 VARCHAR, site VARCHAR, record_id VARCHAR, field VARCHAR,\n    mode VARCHAR, needle VARCHAR, first_word VARCHAR",
    ),
    Table("known.birth_dates", KNOWN_RECORDS, "    sha256 VARCHAR, site VARCHAR, record_id VARCHAR, born DATE"),
    Table("known.tube_records", KNOWN_RECORDS, "    sha256 VARCHAR, fcs_file VARCHAR, site VARCHAR, record_id VARCHAR"),
    # ---- the archive's record map (cartwh.warehouse.record_ids), its own file
    Table(
        "patients",
        RECORD_MAP,
        "    patient_key VARCHAR PRIMARY KEY, site VARCHAR, record_id VARCHAR NOT NULL",
    ),
    Table(
        "row_locations",
        RECORD_MAP,
        """    sha256 VARCHAR, "row" BIGINT, record_id VARCHAR, event VARCHAR,
    instrument VARCHAR, instance VARCHAR, PRIMARY KEY (sha256, "row")""",
    ),
)
BY_NAME = {t.name: t for t in TABLES}

# The warehouse's tables that are not declared above because their loader makes them from what it
# reads (LIKE patterns on schema.table), and who does.
DATA_SHAPED = {
    "raw.redcap\\_%": "cartwh.ingest (the REDCap forms, from the data dictionary; a site's own project's tables)",
    "raw.cytometry\\_%": "cartwh.ingest (the cytometry exports, from the contract's columns and the lab's)",
    "analytics.%": "cartwh.study.compute (the analysis plan's results, analyses.yml)",
}


def contract_version() -> int:
    """The version of the raw layer's contract (the `contract` tables and the loaders' raw tables) the
    dbt models read: dbt_project.yml's var raw_contract_version (docs/data-contract.md section 6)."""
    return manifest.raw_contract_version()


def tables(database: str = WAREHOUSE) -> list[Table]:
    return [t for t in TABLES if t.database == database]


def ensure_schema(con: duckdb.DuckDBPyConnection, database: str = WAREHOUSE) -> None:
    """Create every declared table of `database` that `con` lacks, and the columns added since an
    older version created it: idempotent, never drops or rewrites a row. For KNOWN_RECORDS, `con`
    has the store attached as `known`; for RECORD_MAP, it is connected to the map itself."""
    if database not in DATABASES:
        raise ValueError(f"unknown database {database!r}: one of {', '.join(DATABASES)}")
    statements = []
    if database == WAREHOUSE:
        schemas = dict.fromkeys(t.schema for t in tables(WAREHOUSE))
        statements += [f"CREATE SCHEMA IF NOT EXISTS {s}" for s in schemas]
        statements += [f"CREATE SEQUENCE IF NOT EXISTS {name} {options}" for name, options in SEQUENCES.items()]
    statements += [t.create() for t in tables(database)]
    con.execute(";\n".join(statements))


def replace(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Empty a table its writer rewrites whole (`Table.replaced`), in its declared shape."""
    table = BY_NAME[name]
    if not table.replaced:
        raise ValueError(f"{name} is kept across runs, never replaced")
    if table.schema:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.schema}")
    con.execute(table.create(replace=True))


def has_table(con: duckdb.DuckDBPyConnection, name: str, database: str | None = None) -> bool:
    """Whether the database `con` reads (or the attached `database`) holds the table `schema.name`:
    for readers that may meet an empty or older warehouse and cannot create it (a read-only
    connection, the published copy); a writer's connection has every declared table."""
    schema, table = name.split(".", 1)
    query = "SELECT 1 FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?"
    params = [schema, table]
    if database is not None:
        query += " AND database_name = ?"
        params.append(database)
    return bool(con.execute(query, params).fetchall())

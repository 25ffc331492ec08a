"""Publication (cartwh/warehouse/publish.py): which schemas analysts get (and the de-identified
data-quality view), and the fsync order that makes the rename survive a power cut. What the demo
publishes: tests/e2e/test_publish.py."""

import os

import duckdb
import pytest

from cartwh.ingest.warehouse import connect
from cartwh.warehouse.publish import publish
from cartwh.warehouse.schema import ensure_schema

PLANTED = ("cytometry/statistics/MRN4471023_day7.csv", "Maria Lopez", "1961-04-03", "MRN4471023")

# A working warehouse by hand, in the real raw and quality tables: a file name holding an MRN,
# a quarantined birth date, failing values, a GX observed value that is a list, views over raw
# in staging and in marts.
WORKING = """
CREATE SCHEMA staging; CREATE SCHEMA intermediate; CREATE SCHEMA marts; CREATE SCHEMA analytics;
CREATE SCHEMA reference;
INSERT INTO raw.landed_files (load_id, source, file, sha256, bytes, rows_loaded, rows_quarantined, loaded_at,
                              archive_path, superseded_by) VALUES
    (1, 'redcap', 'redcap/export.csv', 'a', 1, 10, 2, TIMESTAMP '2026-11-30 02:00', 'archive/a', 2),
    (2, 'redcap', 'redcap/export.csv', 'b', 1, 10, 1, TIMESTAMP '2026-12-01 02:00', 'archive/b', NULL),
    (3, 'cytometry_statistics', 'cytometry/statistics/MRN4471023_day7.csv', 'c', 1, 5, 0,
     TIMESTAMP '2026-12-01 02:00', 'archive/c', NULL);
INSERT INTO raw.quarantine (load_id, file, "row", column_name, reason, value, patient_key) VALUES
    (1, 'redcap/export.csv', 4, 'lab_date', 'not a date', '1961-04-03', 'p1'),
    (2, 'redcap/export.csv', 4, 'lab_date', 'not a date', '1961-04-03', 'p1'),
    (1, 'redcap/export.csv', 9, NULL, 'malformed row', 'Maria Lopez', NULL);
CREATE TABLE raw.redcap_demographics AS SELECT 'p1' AS patient_key, 'Maria Lopez' AS bt_regimen;
CREATE VIEW staging.stg AS SELECT * FROM raw.redcap_demographics;
CREATE TABLE intermediate.int_t AS SELECT * FROM raw.redcap_demographics;
CREATE TABLE marts.patients AS SELECT 'p1' AS patient_key, 'inotuzumab' AS bridging_group;
CREATE VIEW marts.patient_keys AS SELECT patient_key FROM raw.redcap_demographics;
CREATE TABLE analytics.cutoffs AS SELECT 0.75 AS auc;
CREATE TABLE reference.study_parameters AS SELECT 'landmark_months' AS parameter, 12 AS value;
CREATE OR REPLACE TABLE ops.run_history AS SELECT 'run-1' AS run_id, 'published' AS status;
INSERT INTO quality.expectation_results VALUES
    ('run-1', TIMESTAMP '2026-12-01 02:00', 'raw_redcap', 'raw.redcap_laboratory', 'batch', 10, 'expect_between',
     'crp', 'warn', 'plausible CRP', false, 10, 2, NULL, NULL),
    ('run-1', TIMESTAMP '2026-12-01 02:00', 'marts_patients', 'marts.patients', 'table', 1, 'expect_mean_between',
     'age', 'blocking', 'age in range', true, 1, 0, '11.0625', NULL),
    ('run-1', TIMESTAMP '2026-12-01 02:00', 'marts_patients', 'marts.patients', 'table', 1, 'expect_distinct_in_set',
     'name', 'warn', 'codes', false, 1, 1, '[''Maria Lopez'']', NULL);
INSERT INTO quality.validated_loads VALUES (2, 'raw_redcap', 'run-1', TIMESTAMP '2026-12-01 02:00'),
    (3, 'raw_redcap', 'run-1', TIMESTAMP '2026-12-01 02:00');
INSERT INTO quality.failing_rows VALUES
    ('run-1', TIMESTAMP '2026-12-01 02:00', 'raw_redcap', 'expect_between', 'crp', 'warn', 'plausible CRP', 'p1',
     'redcap/export.csv', 4, '1961-04-03'),
    ('run-1', TIMESTAMP '2026-12-01 02:00', 'raw_redcap', 'expect_between', 'crp', 'warn', 'plausible CRP', 'p1',
     'cytometry/statistics/MRN4471023_day7.csv', 2, 'MRN4471023');
"""


@pytest.fixture
def by_hand(tmp_path):
    working = connect(tmp_path / "working.duckdb")  # with the raw schema
    ensure_schema(working)
    working.execute(WORKING)
    published = publish(working, tmp_path / "published" / "warehouse.duckdb")
    working.close()
    con = duckdb.connect(str(published), read_only=True)
    yield con
    con.close()


def test_only_the_analysts_schemas_are_published_and_views_become_tables(by_hand):
    tables = by_hand.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables() ORDER BY 1").fetchall()
    assert [t for (t,) in tables] == [
        "analytics.cutoffs",
        "marts.patient_keys",
        "marts.patients",
        "ops.data_origin",  # declared by the schema home, so present (empty) even in this hand-built warehouse
        "ops.run_history",
        "quality.check_results",
        "quality.dbt_tests",
        "quality.failing_rows_per_patient",
        "quality.files_per_source",
        "quality.quarantine_counts",
        "quality.root_causes",
        "reference.study_parameters",
    ]
    assert by_hand.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall() == [(0,)]
    assert by_hand.execute("SELECT * FROM marts.patient_keys").fetchall() == [("p1",)]  # its rows; raw not needed


def test_a_failed_runs_message_stays_in_the_working_warehouse(tmp_path):
    # The message of a failed ingestion quotes the landed file's name, which may hold an MRN.
    working = connect(tmp_path / "working.duckdb")
    working.execute(
        "CREATE OR REPLACE TABLE ops.run_history AS SELECT 'run-2' AS run_id, 'failed' AS status, "
        "'cytometry/statistics/MRN4471023_day7.csv cannot be parsed' AS message"
    )
    published = publish(working, tmp_path / "published" / "warehouse.duckdb")
    working.close()
    con = duckdb.connect(str(published), read_only=True)
    assert con.execute("SELECT * FROM ops.run_history").fetchall() == [("run-2", "failed")]
    con.close()


def test_the_published_quality_view_counts_without_files_rows_or_values(by_hand):
    assert by_hand.execute("SELECT * FROM quality.quarantine_counts ORDER BY ALL").fetchall() == [
        ("redcap", "lab_date", "not a date", "p1", False, 1),
        ("redcap", "lab_date", "not a date", "p1", True, 1),
        ("redcap", None, "malformed row", None, False, 1),
    ]
    failing = by_hand.execute(
        "SELECT suite, patient_key, in_current_files, failing_rows FROM quality.failing_rows_per_patient"
    ).fetchall()
    assert failing == [("raw_redcap", "p1", True, 2)]
    assert by_hand.execute("SELECT expectation, observed_number FROM quality.check_results ORDER BY 1").fetchall() == [
        ("expect_between", None),
        ("expect_distinct_in_set", None),
        ("expect_mean_between", 11.0625),
    ]
    assert by_hand.execute("SELECT * EXCLUDE (last_loaded_at) FROM quality.files_per_source ORDER BY 1").fetchall() == [
        ("cytometry_statistics", 1, 0, 5, 0),
        ("redcap", 1, 1, 20, 3),
    ]
    columns = by_hand.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns WHERE data_type = 'VARCHAR'"
    ).fetchall()
    for schema, table, column in columns:
        for planted in PLANTED:
            query = f'SELECT count(*) FROM "{schema}"."{table}" WHERE contains("{column}", ?)'
            assert by_hand.execute(query, [planted]).fetchall() == [(0,)], (schema, table, column, planted)
    assert not {c for _, _, c in columns} & {"file", "value", "source_row", "row", "observed"}


def test_a_failing_row_of_a_superseded_file_version_is_not_current(tmp_path):
    """Run 0 validated version 1 of redcap/export.csv; version 2 of the same name replaced it."""
    working = connect(tmp_path / "working.duckdb")
    ensure_schema(working)
    working.execute(WORKING)
    working.execute(
        "INSERT INTO quality.validated_loads VALUES (1, 'raw_redcap', 'run-0', TIMESTAMP '2026-11-30 02:00')"
    )
    working.execute(
        "INSERT INTO quality.failing_rows VALUES ('run-0', TIMESTAMP '2026-11-30 02:00', 'raw_redcap', "
        "'expect_between', 'crp', 'warn', 'plausible CRP', 'p2', 'redcap/export.csv', 4, '99')"
    )
    published = publish(working, tmp_path / "published" / "warehouse.duckdb")
    working.close()
    con = duckdb.connect(str(published), read_only=True)
    rows = con.execute(
        "SELECT run_id, patient_key, in_current_files FROM quality.failing_rows_per_patient ORDER BY run_id"
    ).fetchall()
    con.close()
    assert rows == [("run-0", "p2", False), ("run-1", "p1", True)]


def test_the_copy_is_fsynced_before_the_rename_and_its_folder_after(tmp_path, monkeypatch):
    working = duckdb.connect(str(tmp_path / "working.duckdb"))
    working.execute("CREATE SCHEMA marts; CREATE TABLE marts.t AS SELECT 1 AS night")
    published = tmp_path / "published" / "warehouse.duckdb"
    events = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(
        os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))), fsync(fd))
    )
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(a), str(b))), replace(a, b)))
    publish(working, published)
    monkeypatch.undo()
    next_copy = str(published.parent / ".publishing" / "warehouse.duckdb")
    assert events == [("fsync", next_copy), ("replace", next_copy, str(published)), ("fsync", str(published.parent))]

    def disk_error(fd):
        raise OSError(5, "Input/output error")

    working.execute("UPDATE marts.t SET night = 2")
    monkeypatch.setattr(os, "fsync", disk_error)
    with pytest.raises(OSError, match="Input/output"):  # the new copy may not be on disk: not renamed
        publish(working, published)
    monkeypatch.undo()
    working.close()
    assert duckdb.connect(str(published), read_only=True).execute("SELECT night FROM marts.t").fetchall() == [(1,)]

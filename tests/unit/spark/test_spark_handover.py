"""The raw layer handed to Spark as Parquet and what Spark built taken back (cartwh/spark/handover.py),
on a raw layer written here, read back by DuckDB as any Hive-partitioned Parquet reader would."""

import json
from datetime import datetime

import duckdb
import pytest

from cartwh.dbt.manifest import raw_contract_version, raw_sources
from cartwh.spark.handover import built_tables, hand_over_raw, handover_dir, spark_table_files, take_back
from cartwh.spark.session import spark_parameters
from cartwh.warehouse.connection import connect

NOW = datetime(2025, 1, 1)


@pytest.fixture
def raw(tmp_path, monkeypatch):
    """A warehouse whose raw layer holds: a REDCap table with its own site (one file at the landing's
    top, one in a site folder), cytometry rows whose site is their file's folder, a table of no file
    (the data dictionary's), and an empty one."""
    monkeypatch.delenv("CARTWH_SITE", raising=False)
    con = connect(tmp_path / "w.duckdb")
    files = [
        (1, "redcap", "redcap/cart_monitoring_all_20250101.csv", None),
        (2, "redcap", "redcap/HUGM/cart_monitoring_hugm_20250101.csv", None),
        (3, "cytometry_statistics", "cytometry/statistics/HUVR/2021-01_CART-DETECT-v1.csv", None),
        (4, "cytometry_statistics", "cytometry/statistics/HUVR/2021-02_CART-DETECT-v1.csv", 5),
        (5, "cytometry_statistics", "cytometry/statistics/HUVR/2021-02_CART-DETECT-v1.csv", None),
    ]
    for load_id, source, file, superseded_by in files:
        con.execute(
            "INSERT INTO raw.landed_files (load_id, source, file, sha256, bytes, rows_loaded, rows_quarantined, "
            "loaded_at, archive_path, superseded_by) VALUES (?, ?, ?, 'x', 1, 1, 0, ?, 'a', ?)",
            [load_id, source, file, NOW, superseded_by],
        )
    con.execute("""CREATE TABLE raw.redcap_demographics AS SELECT * FROM (VALUES
        ('p1', 'huvr', 1), ('p2', 'hugm', 1), ('p3', 'hugm', 2)) AS t(patient_key, site, _load_id)""")
    con.execute("""CREATE TABLE raw.cytometry_population_stats AS SELECT * FROM (VALUES
        ('t1', 12.5, 3), ('t2', 7.0, 4), ('t2', 7.5, 5)) AS t(tube_key, value, _load_id)""")
    con.execute("INSERT INTO raw.redcap_choices VALUES ('sex', '1', 'Male')")  # declared by the schema home
    return con


TABLES = ("redcap_demographics", "cytometry_population_stats", "redcap_choices", "redcap_deleted_records")


def _read(folder, columns="*", hive=True) -> list[tuple]:
    with duckdb.connect() as con:
        return con.execute(
            f"SELECT {columns} FROM read_parquet('{folder}/**/*.parquet', hive_partitioning = {hive}) ORDER BY ALL"
        ).fetchall()


def test_raw_tables_partitioned_by_source_and_site(raw, tmp_path):
    rows = hand_over_raw(raw, tmp_path / "spark", TABLES, version=7)
    folder = tmp_path / "spark" / "raw" / "contract_v7"
    assert folder == handover_dir(tmp_path / "spark", 7)
    assert rows == {"redcap_demographics": 3, "cytometry_population_stats": 3, "redcap_choices": 1,
                    "redcap_deleted_records": 0}  # fmt: skip
    # the row's own site, whatever folder its file is in; the source of its file
    assert sorted(p.relative_to(folder).as_posix() for p in (folder / "redcap_demographics").rglob("*.parquet")) == [
        "redcap_demographics/source=redcap/site=hugm/data_0.parquet",
        "redcap_demographics/source=redcap/site=huvr/data_0.parquet",
    ]
    assert _read(folder / "redcap_demographics", "patient_key, _load_id, source, site") == [
        ("p1", 1, "redcap", "huvr"), ("p2", 1, "redcap", "hugm"), ("p3", 2, "redcap", "hugm")
    ]  # fmt: skip
    # cytometry rows carry no site: their file's folder declares it (lower-cased, as ingestion keys it);
    # every version is handed over, superseded ones too (the models choose, as on DuckDB)
    assert _read(folder / "cytometry_population_stats", "tube_key, value, _load_id, source, site") == [
        ("t1", 12.5, 3, "cytometry_statistics", "huvr"),
        ("t2", 7.0, 4, "cytometry_statistics", "huvr"),
        ("t2", 7.5, 5, "cytometry_statistics", "huvr"),
    ]
    assert _read(folder / "redcap_choices", hive=False) == [("sex", "1", "Male")]
    # an empty table keeps its columns, under NULL partitions
    empty = folder / "redcap_deleted_records" / "source=__HIVE_DEFAULT_PARTITION__" / "site=__HIVE_DEFAULT_PARTITION__"
    with duckdb.connect() as con:
        columns = [
            c
            for c, *_ in con.execute(
                f"DESCRIBE SELECT * FROM read_parquet('{empty}/data.parquet', hive_partitioning = false)"
            ).fetchall()
        ]
    assert columns == ["site", "patient_key", "deleted_since", "found_at", "_load_id", "_source_row"][1:]
    listing = [json.loads(line) for line in (folder / "tables.json").read_text().splitlines()]
    assert [(e["table"], e["partitioned_by"], e["rows"], e["contract_version"]) for e in listing] == [
        ("redcap_demographics", "source,site", 3, 7),
        ("cytometry_population_stats", "source,site", 3, 7),
        ("redcap_choices", None, 1, 7),
        ("redcap_deleted_records", "source,site", 0, 7),
    ]


def test_a_file_at_the_top_of_its_folder_takes_the_configured_site(raw, tmp_path, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "HCB")
    raw.execute("UPDATE raw.landed_files SET file = 'cytometry/statistics/2021-01.csv' WHERE load_id = 3")
    hand_over_raw(raw, tmp_path / "spark", ("cytometry_population_stats",), version=1)
    sites = set(_read(tmp_path / "spark" / "raw" / "contract_v1" / "cytometry_population_stats", "tube_key, site"))
    assert sites == {("t1", "hcb"), ("t2", "huvr")}


def test_a_new_hand_over_replaces_the_last_whole(raw, tmp_path):
    hand_over_raw(raw, tmp_path / "spark", TABLES, version=1)
    raw.execute("DELETE FROM raw.redcap_demographics WHERE site = 'huvr'")
    hand_over_raw(raw, tmp_path / "spark", TABLES, version=1)
    folder = tmp_path / "spark" / "raw" / "contract_v1"
    assert [r[0] for r in _read(folder / "redcap_demographics")] == ["p2", "p3"]
    assert not (folder / "redcap_demographics" / "source=redcap" / "site=huvr").exists()
    assert sorted(p.name for p in folder.parent.iterdir()) == ["contract_v1"]


def test_a_table_the_models_read_must_exist(raw, tmp_path):
    with pytest.raises(LookupError, match="raw.redcap_toxicity does not exist"):
        hand_over_raw(raw, tmp_path / "spark", ("redcap_toxicity",), version=1)


def test_the_hand_over_is_of_the_dbt_projects_sources_and_contract_version():
    assert raw_contract_version() >= 1
    assert {"landed_files", "redcap_deleted_records", "cytometry_population_stats", "redcap_choices"} <= set(
        raw_sources()
    )


def test_spark_marts_and_seeds_taken_back(raw, tmp_path):
    spark = tmp_path / "spark"
    with duckdb.connect() as con:
        for schema, name, sql in [
            ("marts", "patients", "SELECT 'p2' AS patient_key, 3.5 :: DOUBLE AS efs_months"),
            ("reference", "study_parameters", "SELECT 'days_per_month' AS parameter, 30.4375 AS value"),
        ]:
            files = spark_table_files(spark, schema, name)
            files.mkdir(parents=True)
            con.execute(f"COPY ({sql}) TO '{files}/part-00000.snappy.parquet' (FORMAT parquet)")
    for schema in ("marts", "staging", "intermediate"):
        raw.execute(f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.stale AS SELECT 1 AS x")
    raw.execute("CREATE VIEW staging.stale_view AS SELECT * FROM raw.redcap_demographics")
    declared = {"patient_key": "string", "efs_months": "double"}
    take_back(raw, spark, [("marts", "patients", declared), ("reference", "study_parameters", {})])
    assert raw.execute("SELECT * FROM marts.patients").fetchall() == [("p2", 3.5)]
    assert raw.execute("SELECT * FROM reference.study_parameters").fetchall() == [("days_per_month", 30.4375)]
    schemas = {s for (s,) in raw.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
    assert not {"staging", "intermediate"} & schemas
    assert raw.execute("SELECT count(*) FROM marts.stale").fetchone() == (1,)  # a table Spark did not build stays


def test_a_table_spark_left_empty_comes_back_empty_with_its_columns(raw, tmp_path):
    """Spark writes no file for a table created without rows (an empty seed)."""
    spark_table_files(tmp_path / "spark", "reference", "cytometry_lab_columns").mkdir(parents=True)
    take_back(raw, tmp_path / "spark", [("reference", "cytometry_lab_columns", {"lab": "string", "n": "integer"})])
    assert raw.execute("DESCRIBE reference.cytometry_lab_columns").fetchall()[0][:2] == ("lab", "VARCHAR")
    assert raw.execute("SELECT count(*) FROM reference.cytometry_lab_columns").fetchone() == (0,)


def test_taking_back_is_all_or_nothing(raw, tmp_path):
    raw.execute("CREATE SCHEMA marts; CREATE TABLE marts.patients AS SELECT 'p1' AS patient_key")
    raw.execute("CREATE SCHEMA staging")
    with pytest.raises(duckdb.IOException):
        take_back(raw, tmp_path / "spark", [("marts", "patients", {})])  # Spark left no files, and no columns known
    assert raw.execute("SELECT * FROM marts.patients").fetchall() == [("p1",)]
    assert raw.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'staging'").fetchone() == (
        1,
    )


def test_only_what_the_build_made_comes_back():
    manifest = {
        "nodes": {
            "model.cartwh.patients": {"resource_type": "model", "fqn": ["cartwh", "marts", "patients"],
                                      "schema": "marts", "alias": "patients",
                                      "columns": {"patient_key": {"data_type": "string"}}},
            "model.cartwh.bca_episodes": {"resource_type": "model", "fqn": ["cartwh", "marts", "bca_episodes"],
                                          "schema": "marts", "alias": "bca_episodes"},
            "model.cartwh.int__x": {"resource_type": "model", "fqn": ["cartwh", "intermediate", "int__x"],
                                    "schema": "intermediate", "alias": "int__x"},
            "seed.cartwh.bead_lots": {"resource_type": "seed", "fqn": ["cartwh", "bead_lots"],
                                      "schema": "reference", "alias": "bead_lots",
                                      "config": {"column_types": {"lot": "string"}}},
        }
    }  # fmt: skip
    results = {"results": [
        {"unique_id": "model.cartwh.patients", "status": "success"},
        {"unique_id": "model.cartwh.bca_episodes", "status": "error"},
        {"unique_id": "model.cartwh.int__x", "status": "success"},
        {"unique_id": "seed.cartwh.bead_lots", "status": "success"},
        {"unique_id": "test.cartwh.not_null_x", "status": "pass"},
    ]}  # fmt: skip
    assert built_tables(results, manifest) == [
        ("marts", "patients", {"patient_key": "string"}),
        ("reference", "bead_lots", {"lot": "string"}),
    ]


def test_spark_configured_in_its_folder(tmp_path):
    """The session that reads a Spark build's tables has the build's own configuration (profiles.yml),
    everything Spark writes inside CARTWH_SPARK_DIR."""
    parameters = spark_parameters(tmp_path)
    assert parameters["spark.sql.warehouse.dir"] == f"{tmp_path}/warehouse"
    assert f"databaseName={tmp_path}/metastore_db" in parameters["spark.hadoop.javax.jdo.option.ConnectionURL"]
    assert parameters["spark.ui.enabled"] == "false"
    assert parameters["spark.sql.sources.partitionColumnTypeInference.enabled"] == "false"
    assert parameters["spark.sql.codegen.wholeStage.union.enabled"] == "false"  # Spark 4.3's union fusion

"""The night on Spark (CARTWH_ENGINE=spark): the demo cohort through the whole main job with its
models built on a local Spark (the raw layer handed over as Parquet, the marts and seeds taken back
into the warehouse), compared with the session's DuckDB demo run: every mart the same rows, values
equal to 1e-9, the same columns and types. Marked spark: `make test-spark` (CI runs it after
`make test`), which installs pyspark and Java."""

import math

import duckdb
import pytest

from cartwh.dbt.manifest import mart_names
from cartwh.quality.dbt_tests import ROWS_TABLE, record_dbt_tests
from cartwh.spark.session import SparkQuery

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark_run(tmp_path_factory, main_job):
    """The demo's data folder after the main job on Spark."""
    root = tmp_path_factory.mktemp("spark_demo")
    result, _ = main_job(root, engine="spark")
    assert result.success
    return root


def _sort_key(row: tuple) -> tuple:
    # NULLs last, floats rounded for the ordering only (the comparison below is to 1e-9)
    return tuple((v is None, round(v, 6) if isinstance(v, float) else v if v is not None else 0) for v in row)


def _rows(warehouse, mart: str) -> tuple[list[tuple[str, str]], list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'marts' "
            "AND table_name = ? ORDER BY ordinal_position",
            [mart],
        ).fetchall()
        return columns, sorted(con.execute(f"SELECT * FROM marts.{mart}").fetchall(), key=_sort_key)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    return a == b


@pytest.mark.parametrize("mart", mart_names())
def test_mart_built_on_spark_equals_duckdb(spark_run, demo_warehouse, mart):
    duck_columns, duck_rows = _rows(demo_warehouse, mart)
    spark_columns, spark_rows = _rows(spark_run / "warehouse.duckdb", mart)
    assert spark_columns == duck_columns, "the contract: the same columns in the same order, of the same types"
    assert len(duck_rows) > 0 or mart == "hematotox_scores", "the demo fills every mart"
    assert len(spark_rows) == len(duck_rows)
    names = [name for name, _ in duck_columns]
    for duck, spark in zip(duck_rows, spark_rows, strict=True):
        differing = [n for n, a, b in zip(names, duck, spark, strict=True) if not _same(a, b)]
        assert not differing, f"marts.{mart}: {differing} differ in {dict(zip(names, duck, strict=True))}"


def test_derived_layers_stay_in_spark(spark_run):
    """The warehouse holds Spark's marts and seeds, and no staging or intermediate tables of its own."""
    with duckdb.connect(str(spark_run / "warehouse.duckdb"), read_only=True) as con:
        schemas = {s for (s,) in con.execute("SELECT DISTINCT table_schema FROM information_schema.tables").fetchall()}
        seeds = con.execute("SELECT count(*) FROM reference.study_parameters").fetchone()[0]
    assert {"marts", "reference", "raw"} <= schemas and not {"staging", "intermediate"} & schemas
    assert seeds > 0


def test_a_failing_tests_rows_are_read_on_spark(spark_run, demo_warehouse):
    """A test that did not pass on a Spark build: its SQL runs on Spark's tables, and the patients it
    names are the ones DuckDB finds with the same condition in its own marts."""
    condition = "bca_lost"
    sql = f"select patient_key, site from marts.patients where {condition}"
    results = {"results": [{"unique_id": "test.cartwh.probe", "status": "warn", "failures": 1, "compiled_code": sql}]}
    con = duckdb.connect()
    query = SparkQuery(spark_run / "spark")
    try:
        assert record_dbt_tests(con, "run", results, {"nodes": {}}, query) == 1
    finally:
        query.close()
    kept = {k for (k,) in con.execute(f"SELECT patient_key FROM {ROWS_TABLE}").fetchall()}
    with duckdb.connect(str(demo_warehouse), read_only=True) as duck:
        expected = {k for (k,) in duck.execute(f"SELECT patient_key FROM marts.patients WHERE {condition}").fetchall()}
    assert kept == expected and expected

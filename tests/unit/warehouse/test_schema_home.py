"""Every persistent table outside dbt has one home, cartwh.warehouse.schema: declared there, documented
(the dbt sources or docs/data-contract.md), and created by `ensure_schema`, twice harmlessly. That
the main job writes no other: tests/e2e/test_schema_home.py."""

import re
from pathlib import Path

import duckdb
import yaml

from cartwh.settings import PROJECT_ROOT
from cartwh.warehouse import schema


def _documented() -> str:
    """The dbt sources' table names (schema.table) and the data contract's text."""
    names = []
    for path in (PROJECT_ROOT / "dbt_project" / "models").rglob("*.yml"):
        for source in (yaml.safe_load(path.read_text()) or {}).get("sources", []):
            names += [f"{source.get('schema', source['name'])}.{t['name']}" for t in source.get("tables", [])]
    return "\n".join(names) + "\n" + (PROJECT_ROOT / "docs" / "data-contract.md").read_text()


def test_every_declared_table_is_documented():
    documented = _documented()
    for table in schema.TABLES:
        name = table.name if table.database == schema.WAREHOUSE else table.name.split(".")[-1]
        assert re.search(rf"`?{re.escape(name)}`?\b", documented), f"{table.name} is documented nowhere"


def test_ensure_schema_creates_every_table_and_twice_is_harmless(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        for _ in range(2):
            schema.ensure_schema(con)
        made = {f"{s}.{t}" for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}
        assert made == {t.name for t in schema.tables()}
        con.execute("INSERT INTO ops.data_origin VALUES (true, 'demo')")
        schema.ensure_schema(con)  # never drops a row
        assert con.execute("SELECT count(*) FROM ops.data_origin").fetchone()[0] == 1
        con.execute(f"ATTACH '{tmp_path / 'known.duckdb'}' AS known")
        for _ in range(2):
            schema.ensure_schema(con, schema.KNOWN_RECORDS)
        known = {
            t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'known'").fetchall()
        }
        assert {f"known.{t}" for t in known} == {t.name for t in schema.tables(schema.KNOWN_RECORDS)}
    with duckdb.connect(str(tmp_path / "map.duckdb")) as con:
        for _ in range(2):
            schema.ensure_schema(con, schema.RECORD_MAP)
        made = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert made == {t.name for t in schema.tables(schema.RECORD_MAP)}


def test_an_older_warehouse_gains_the_columns_added_since(tmp_path):
    with duckdb.connect(str(tmp_path / "old.duckdb")) as con:
        con.execute("CREATE SCHEMA ops; CREATE TABLE ops.run_history (run_id VARCHAR, started_at TIMESTAMP)")
        con.execute("INSERT INTO ops.run_history VALUES ('r', NULL)")
        schema.ensure_schema(con)
        columns = {
            c
            for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = 'run_history'"
            ).fetchall()
        }
        assert "message" in columns
        assert con.execute("SELECT count(*) FROM ops.run_history").fetchone()[0] == 1


def test_the_contract_version_is_the_models(tmp_path):
    assert (
        schema.contract_version()
        == yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"][
            "raw_contract_version"
        ]
    )
    assert Path(PROJECT_ROOT).exists()

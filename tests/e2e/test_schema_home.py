"""Every table outside dbt that the main job leaves in the warehouse is declared in
cartwh.warehouse.schema."""

import re

import duckdb

from cartwh.warehouse import schema

DBT_SCHEMAS = ("staging", "intermediate", "marts", "reference", "main")  # what dbt builds (models, seeds)


def _data_shaped(name: str) -> bool:
    return any(re.fullmatch(p.replace("\\_", "_").replace("%", ".*"), name) for p in schema.DATA_SHAPED)


def test_every_table_outside_dbt_after_the_main_job_is_declared(demo_warehouse):
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        found = {
            f"{s}.{t}"
            for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary"
            ).fetchall()
            if s not in DBT_SCHEMAS
        }
    undeclared = {t for t in found if t not in schema.BY_NAME and not _data_shaped(t)}
    assert not undeclared, f"persistent tables outside dbt not declared in cartwh.warehouse.schema: {undeclared}"
    missing = {t.name for t in schema.tables() if t.name not in found}
    assert not missing, f"declared but not in the demo's warehouse: {missing}"

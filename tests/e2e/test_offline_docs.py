"""Every table Python writes (analytics, quality, ops), as the session's demo run wrote it, is in the
data dictionary with every column described."""

import duckdb
import yaml

from tests.paths import ROOT

PYTHON_SCHEMAS = ("analytics", "quality", "ops")


def _documented_sources() -> dict[str, dict[str, set[str]]]:
    """schema -> table -> columns with a description, from every sources block of the dbt project."""
    documented = {}
    for path in (ROOT / "dbt_project" / "models").rglob("*.yml"):
        for source in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("sources", []):
            for table in source.get("tables", []):
                assert table.get("description"), (source["name"], table["name"])
                documented.setdefault(source.get("schema", source["name"]), {})[table["name"]] = {
                    c["name"] for c in table.get("columns", []) if c.get("description")
                }
    return documented


def test_every_table_python_writes_is_documented_column_by_column(demo_warehouse):
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        written = con.execute(
            "SELECT table_schema, table_name, list(column_name ORDER BY ordinal_position) FROM information_schema.columns "
            f"WHERE table_schema IN {PYTHON_SCHEMAS} GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    documented = _documented_sources()
    assert {schema for schema, _, _ in written} == set(PYTHON_SCHEMAS)
    assert len(written) >= 16  # 12 analytics, 3 quality, 1 ops tables in the demo
    undocumented = {
        f"{schema}.{table}": sorted(set(columns) - documented.get(schema, {}).get(table, set()))
        for schema, table, columns in written
    }
    assert {t: c for t, c in undocumented.items() if c} == {}

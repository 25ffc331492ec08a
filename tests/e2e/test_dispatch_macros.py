"""Every adapter.dispatch macro of the dbt project rendered by dbt for DuckDB and run there, against
the results worked out by hand in tests/unit/dbt/test_dispatch_macros.py (which runs them on Spark)."""

import duckdb

from tests.unit.dbt.test_dispatch_macros import TABLES, check, compiled_cases


def test_dispatch_macros_on_duckdb(tmp_path):
    con = duckdb.connect()
    con.execute("create schema raw")
    for name, (columns, rows) in TABLES.items():
        con.execute(f"create table {name} ({columns})")
        con.executemany(f"insert into {name} values ({', '.join('?' * len(rows[0]))})", rows)
    check(compiled_cases("duckdb", tmp_path), lambda sql: con.execute(sql).fetchall())

"""What only ingestion uses of the warehouse: raw tables that grow with the dictionary or panel.
The rest (connecting, the raw bookkeeping tables, quoting, transactions) is cartwh.warehouse.connection, also
importable from here, as ingestion's modules do."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from cartwh.warehouse.connection import (  # noqa: F401  (ingestion's modules import these from here)
    DELETED_RECORDS,
    LANDED_FILES,
    QUARANTINE,
    SCHEMA,
    confine,
    connect,
    insert_rows,
    quote,
    quote_literal,
    quote_table,
    remove_database,
    transaction,
)


def ensure_table(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str]) -> None:
    """Create `table`, or add the columns a newer dictionary or panel brought (never drop any)."""
    schema, name = table.split(".", 1)
    existing = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchall()
    }
    if not existing:
        body = ", ".join(f"{quote(c)} {t}" for c, t in columns.items())
        con.execute(f"CREATE TABLE {quote_table(table)} ({body})")
        return
    for column, sql_type in columns.items():
        if column not in existing:
            con.execute(f"ALTER TABLE {quote_table(table)} ADD COLUMN {quote(column)} {sql_type}")


@dataclass(frozen=True)
class RawTable:
    """A raw table a loader wrote: `name` as reports and the ledger call it; `stored`, the table
    holding its rows, one per record that landed (itself, unless `name` is a view); `rows`, how
    many of `name`'s rows one stored row is (SQL over `stored`: a wide row of statistics holds
    one per number)."""

    name: str
    stored: str | None = None
    rows: str = "1"

    @property
    def table(self) -> str:
        return self.stored or self.name

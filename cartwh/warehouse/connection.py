"""The working warehouse file, for every module that opens it (ingestion, rebuild, publication,
status, run summaries): connecting (a writer's connection with every persistent table outside dbt
ready: cartwh.warehouse.schema), confining a connection to the files it needs, removing a
leftover, one transaction, SQL quoting and bulk inserts. What only ingestion uses stays in
cartwh.ingest.warehouse.

Names that come from outside (a dictionary's forms and fields, a header's cells, a mapping, a
server's metadata) reach SQL only as identifiers quoted by `quote` (tables by `quote_table`),
never spliced bare, and a table is named after one only when it is a plain name (REDCap's rule,
cartwh.contract.redcap_dictionary.REDCAP_NAME). Values reach it bound, or as literals written
by `quote_literal`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from cartwh import settings
from cartwh.warehouse.schema import ensure_schema

SCHEMA = "raw"
LANDED_FILES = f"{SCHEMA}.landed_files"
QUARANTINE = f"{SCHEMA}.quarantine"
DELETED_RECORDS = f"{SCHEMA}.redcap_deleted_records"


def connect(
    path: Path | str, read_only: bool = False, folders: Iterable[Path] | None = None, files: Iterable[Path] = ()
) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse `path`; given `folders` (or `files`), confined to them (`confine`)."""
    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only, config={"memory_limit": settings.duckdb_memory_limit()})
    con.execute("SET enable_progress_bar = false")  # DuckDB draws one for a long query, into the night's log
    if folders is not None or files:
        confine(con, folders or (), files)
    if not read_only:
        ensure_schema(con)  # every persistent table outside dbt, declared in cartwh.warehouse.schema
    return con


def confine(con: duckdb.DuckDBPyConnection, folders: Iterable[Path] = (), files: Iterable[Path] = ()) -> None:
    """Let the database `con` is connected to reach no file but its own (and its spill folder),
    the `folders` (read and write) and the `files`: DuckDB's external access off with those
    allowed (`allowed_directories`, `allowed_paths`), then its configuration locked. So no
    statement, an injected one included, can read or write another file (COPY, read_csv,
    ATTACH), reach the network, load an extension or change a setting. This holds for the
    database instance, every connection of this process to the file, and cannot be widened:
    confining a connection of an instance already confined checks it allows what is asked."""
    wanted_folders = [f"{Path(f).absolute()}/" for f in folders]
    wanted_files = [str(Path(f).absolute()) for f in files]
    locked, allowed_folders, allowed_files = con.execute(
        "SELECT current_setting('lock_configuration'), current_setting('allowed_directories'), "
        "current_setting('allowed_paths')"
    ).fetchone()
    if locked:
        missing = [
            f for f in wanted_folders + wanted_files if f not in allowed_files and not _under(f, allowed_folders)
        ]
        if missing:
            raise PermissionError(
                f"this warehouse connection was confined to {allowed_folders + allowed_files} and cannot reach "
                f"{', '.join(missing)}: open the warehouse with every file it needs"
            )
        return
    con.execute(f"SET allowed_directories = [{', '.join(map(quote_literal, wanted_folders))}]")
    con.execute(f"SET allowed_paths = [{', '.join(map(quote_literal, wanted_files))}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _under(path: str, folders: list[str]) -> bool:
    return any(path.startswith(folder.rstrip("/") + "/") for folder in folders)


def remove_database(path: Path) -> None:
    """Delete a DuckDB file and its write-ahead log, if there (a leftover of an interrupted build)."""
    for part in (Path(path), Path(f"{path}.wal")):
        part.unlink(missing_ok=True)


def quote(identifier: str) -> str:
    """Any text as one SQL identifier (a CSV header cell too): its double quotes doubled."""
    return '"' + identifier.replace('"', '""') + '"'


def quote_table(table: str) -> str:
    """'schema.name' as two quoted identifiers."""
    schema, name = table.split(".", 1)
    return f"{quote(schema)}.{quote(name)}"


def quote_literal(text: str | None) -> str:
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    """Append Python rows in one statement (DuckDB's executemany goes row by row)."""
    if not rows:
        return
    frame = pd.DataFrame(rows, dtype=object)
    con.register("_python_rows", frame)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM _python_rows")
    finally:
        con.unregister("_python_rows")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One DuckDB transaction around the block: committed when it ends, rolled back when it raises
    (anything, an interrupt too), so readers see all of its writes or none."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # a COMMIT that failed has already rolled back: the block's own error is the one to see
        raise


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Append a DataFrame's rows to `table`, its columns matched by name."""
    if not len(frame):
        return
    con.register("_frame_rows", frame)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _frame_rows")
    finally:
        con.unregister("_frame_rows")

"""`cartwh sql`: ad-hoc SQL on the published warehouse, read-only.

Two guards: every statement is parsed first and anything but a query (SELECT, SHOW,
DESCRIBE, SUMMARIZE, EXPLAIN) is refused with a clear message, before it runs; and the file is
opened read-only anyway. The published copy is replaced atomically by runs, so a session
sees one complete night, never a mix, and never blocks a run.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
FORMATS = ("table", "csv", "json")


class ReadOnlyRefusal(ValueError):
    """A statement that would write (or attach, copy out, install...) was refused."""


def read_only_statements(sql: str) -> list:
    statements = duckdb.extract_statements(sql)
    for statement in statements:
        if statement.type not in ALLOWED:
            raise ReadOnlyRefusal(
                f"refused: {statement.type.name} statement. cartwh sql only reads the published warehouse "
                f"(SELECT, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN); data change only through the exports and a run."
            )
    return statements


def open_published(path: Path) -> duckdb.DuckDBPyConnection:
    if not Path(path).exists():
        raise FileNotFoundError(f"no published warehouse at {path} yet: run `make run` first")
    return duckdb.connect(str(path), read_only=True)


def render(con: duckdb.DuckDBPyConnection, statement, fmt: str = "table") -> str:
    if fmt == "table":
        return str(con.sql(statement.query))
    frame = con.execute(statement.query).df()
    if fmt == "csv":
        return frame.to_csv(index=False)
    return frame.to_json(orient="records", date_format="iso", force_ascii=False, indent=1)


def run_sql(path: Path, sql: str, fmt: str = "table") -> str:
    statements = read_only_statements(sql)  # refuse before opening anything
    con = open_published(path)
    try:
        return "\n".join(render(con, statement, fmt) for statement in statements)
    finally:
        con.close()


def interactive(path: Path, fmt: str = "table", read=input, write=print) -> None:
    """A small shell: statements end with ';', `.quit` or Ctrl-D leaves."""
    con = open_published(path)
    write(f"cartwh sql on {path} (read-only). End statements with ';', leave with .quit")
    buffer = ""
    try:
        while True:
            try:
                line = read("cartwh> " if not buffer else "   ...> ")
            except EOFError:
                break
            if line.strip() in {".quit", ".exit"}:
                break
            buffer += line + "\n"
            if not buffer.rstrip().endswith(";"):
                continue
            try:
                for statement in read_only_statements(buffer):
                    write(render(con, statement, fmt))
            except (ReadOnlyRefusal, duckdb.Error) as error:
                write(str(error))
            buffer = ""
    finally:
        con.close()

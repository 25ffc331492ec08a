"""What an analyst's statement may do in `cartwh sql`: the guards every statement on the published
copy passes, whether it is typed in the shell (cartwh/sql/shell.py) or run in its worker process.

The boundary is DuckDB itself, not a parser of ours: the published copy is opened read-only,
with external access off, the local file system disabled, extensions neither autoloaded nor
autoinstalled, no temporary directory, a memory limit and thread count of its own, and then the
configuration locked. So whatever a statement looks like, DuckDB cannot read or write a file
(no read_csv, read_text, glob, COPY, ATTACH, replacement scan of 'x.csv'; not /proc/self/environ
either), cannot reach the network or load an extension, and cannot change a setting.

In front of it, a statement filter gives the friendly first refusal, before anything runs: only
queries (SELECT, FROM, WITH, VALUES, SHOW, DESCRIBE, SUMMARIZE, PIVOT/UNPIVOT) and EXPLAIN
[ANALYZE] of a query, because EXPLAIN ANALYZE executes the statement it explains. Every refusal,
from the filter or from DuckDB's guards, is one line starting with "refused:".

Each statement runs under a time limit (a timer calls `interrupt()` on the connection; Ctrl-C
does the same) and the session's memory limit, in a worker process under an address-space cap
that is ended when a statement does not stop when interrupted (cartwh/sql/worker.py); a statement
that hits a limit stops with one line starting with "stopped:", and the session stays usable.

This module imports nothing else of the shell: the worker and the shell build on it. It does not
need and never imports the pseudonym key or its code.
"""

from __future__ import annotations

import resource
import threading
from pathlib import Path

import duckdb

from cartwh import settings
from cartwh.night.published_night import missing_copy_message

QUERY = "SELECT"  # SHOW, DESCRIBE, SUMMARIZE, PIVOT ... IN parse as SELECT too
FORMATS = ("table", "csv", "json", "line", "markdown")
SEARCH_ORDER = ("marts", "analytics", "reference", "quality", "ops", "main")
ALLOWED_TEXT = "queries (SELECT, FROM, WITH, VALUES, SHOW, DESCRIBE, SUMMARIZE, PIVOT) and EXPLAIN [ANALYZE] of a query"
INTERRUPTED = "stopped: the query was interrupted (Ctrl-C); the session is still usable"
OUT_OF_MEMORY = (
    "stopped: the result does not fit in this session's memory (CARTWH_SQL_MEMORY); filter or aggregate earlier"
)


class ReadOnlyRefusal(ValueError):
    """A statement that would write, read a file, reach the network or change a setting."""


class QueryStopped(RuntimeError):
    """A statement hit its time or memory limit (or was interrupted); the session goes on."""


# --- the first, friendly refusal --------------------------------------------------------------


def tokens(sql: str) -> list[tuple[int, duckdb.token_type, bytes]]:
    """DuckDB's own tokens of `sql` but its comments: (byte offset, kind, text), where a string,
    a quoted name or a comment left open runs to the end."""
    text = sql.encode()  # the tokenizer's positions are byte offsets
    found = duckdb.tokenize(sql)
    ends = [start for start, _ in found[1:]] + [len(text)]
    return [
        (start, kind, text[start:end].strip())
        for (start, kind), end in zip(found, ends[: len(found)], strict=True)
        if kind != duckdb.token_type.comment
    ]


def _explained(statement) -> str:
    """The text of the statement an EXPLAIN [ANALYZE] [(options)] statement explains."""
    text = statement.query.encode()
    words = [(start, word.lower()) for start, _, word in tokens(statement.query)]
    if not words or words[0][1] != b"explain":
        return ""  # not the shape of an EXPLAIN we know: explains nothing, so it is refused
    i = 1
    if i < len(words) and words[i][1] in {b"analyze", b"analyse"}:
        i += 1
    if i < len(words) and words[i][1] == b"(":  # EXPLAIN (ANALYZE, FORMAT json) ...
        depth = 0
        while i < len(words):
            depth += {b"(": 1, b")": -1}.get(words[i][1], 0)
            i += 1
            if depth == 0:
                break
    return text[words[i][0] :].decode() if i < len(words) else ""


def _kind(statement) -> str:
    try:
        return statement.type.name
    except ValueError:  # a statement type this duckdb's Python API has no name for (UPDATE EXTENSIONS)
        return "unnamed"


def read_only_statements(sql: str) -> list:
    """The statements of `sql`, or ReadOnlyRefusal naming the first one that is not a query."""
    statements = duckdb.extract_statements(sql)
    for statement in statements:
        if _kind(statement) == "EXPLAIN":
            explained = _explained(statement)
            inner = [_kind(s) for s in duckdb.extract_statements(explained)] if explained.strip() else []
            if inner != [QUERY]:
                kind = inner[0] if len(inner) == 1 else "non-query"
                raise ReadOnlyRefusal(
                    f"refused: EXPLAIN of a {kind} statement; EXPLAIN ANALYZE runs what it explains, "
                    f"so cartwh sql explains queries only"
                )
        elif _kind(statement) == "MULTI":  # PIVOT without an IN list first creates a type, then queries
            raise ReadOnlyRefusal(
                "refused: PIVOT without an IN list runs as several statements; name the values: "
                "PIVOT t ON c IN ('a', 'b') USING ..."
            )
        elif _kind(statement) != QUERY:
            raise ReadOnlyRefusal(
                f"refused: {_kind(statement)} statement; cartwh sql runs only {ALLOWED_TEXT}, and the "
                f"published warehouse changes only through the exports and a run"
            )
    return statements


# --- DuckDB's own guards ----------------------------------------------------------------------


def guard_settings() -> dict:
    """The configuration the published copy is opened with (then locked)."""
    return {
        "enable_external_access": False,  # no files, URLs, ATTACH, COPY, INSTALL/LOAD, secrets on disk
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        "python_enable_replacements": False,  # `FROM name` never scans a Python variable
        "temp_directory": "",  # nothing spilled beside the published copy: over the memory limit a query stops
        "memory_limit": f"{memory_limit_bytes()}B",
        "threads": settings.sql_threads(),
    }


def open_published(path: Path) -> duckdb.DuckDBPyConnection:
    if not Path(path).exists():  # none yet, or the first nights were blocked: which, in one or two sentences
        raise FileNotFoundError(missing_copy_message(path, settings.warehouse_path()))
    con = duckdb.connect(str(path), read_only=True, config=guard_settings())
    # Only settable once the database is open; with it, even a path the access check missed hits
    # a disabled file system. Then nothing can be changed any more, by SET, PRAGMA or a function.
    con.execute("SET disabled_filesystems = 'LocalFileSystem'")
    con.execute(f"SET search_path = '{','.join(_search_path(con))}'")
    con.execute("SET lock_configuration = true")
    return con


def _search_path(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The copy's schemas, marts first: `FROM patients` is marts.patients, and SHOW TABLES lists the
    tables of all of them (unqualified; `.tables` qualifies). Where two schemas hold one name,
    the earlier schema's table answers the bare name."""
    present = {s for (s,) in con.execute("SELECT DISTINCT schema_name FROM duckdb_tables()").fetchall()}
    return [s for s in SEARCH_ORDER if s in present] + sorted(present - set(SEARCH_ORDER)) or ["main"]


def memory_limit_bytes() -> int:
    """CARTWH_SQL_MEMORY in bytes, read the way DuckDB reads its memory_limit, or a ValueError naming it."""
    value = settings.sql_memory_limit()
    try:
        with duckdb.connect() as scratch:  # in memory, no statement of the user's
            return scratch.execute("SELECT parse_formatted_bytes(?)", [value]).fetchone()[0]
    except duckdb.Error as error:
        raise ValueError(f"CARTWH_SQL_MEMORY={value!r}: {_first_line(error)}") from None


def cap_process_memory() -> int:
    """Cap this process's address space at twice the memory limit plus 3 GiB; for the `cartwh sql`
    process only (never a library caller's). DuckDB's memory limit covers its buffers, not every
    allocation: one huge value (`repeat('x', 4000000000)`) grows past it, and a single function
    call is not interrupted by the time limit until it returns. Under the cap the allocation fails
    and DuckDB reports it as out of memory. Returns the cap in bytes."""
    # Address space is not memory used: the interpreter, pandas, thread stacks and DuckDB's own
    # reservations take 0.8-1.4 GB of it before a query; 1 GiB of headroom was too little to start a thread.
    cap = 2 * memory_limit_bytes() + 3 * 2**30
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    return cap


# --- running one statement within its limits --------------------------------------------------


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0]


def _translated(error: duckdb.Error, time_limit: float, timed_out: bool) -> Exception | None:
    """A guard's or a limit's error as one clear line; None for an ordinary SQL error."""
    message = _first_line(error)
    if isinstance(error, duckdb.InterruptException):
        if timed_out:
            return QueryStopped(
                f"stopped: the query ran longer than its time limit of {time_limit:g} s "
                f"(CARTWH_SQL_TIMEOUT) and was interrupted; the session is still usable"
            )
        return QueryStopped(INTERRUPTED)
    if isinstance(error, duckdb.OutOfMemoryException):
        return QueryStopped(
            f"stopped: the query needs more than the memory limit of {settings.sql_memory_limit()} "
            f"(CARTWH_SQL_MEMORY); filter or aggregate earlier ({message})"
        )
    if isinstance(error, duckdb.PermissionException):
        return ReadOnlyRefusal(
            f"refused: cartwh sql cannot read or write files, reach the network or load extensions ({message})"
        )
    if "configuration has been locked" in message:
        return ReadOnlyRefusal(f"refused: settings are fixed in cartwh sql ({message})")
    if isinstance(error, duckdb.ParserException) and "Expected a single SELECT statement" in message:
        return ReadOnlyRefusal(f"refused: query() runs a single SELECT only ({message})")
    if "read-only mode" in message:
        return ReadOnlyRefusal(f"refused: the published warehouse is read-only ({message})")
    return None


def _render(con: duckdb.DuckDBPyConnection, statement, fmt: str) -> str:
    if fmt == "table":
        return str(con.sql(statement))
    if fmt in {"line", "markdown"}:
        result = con.execute(statement)
        columns, rows = [d[0] for d in result.description], result.fetchall()
        return _as_lines(columns, rows) if fmt == "line" else _as_markdown(columns, rows)
    frame = con.execute(statement).df()
    if fmt == "csv":
        return frame.to_csv(index=False)
    return frame.to_json(orient="records", date_format="iso", force_ascii=False, indent=1)


def run_statement(con: duckdb.DuckDBPyConnection, statement, fmt: str, time_limit: float) -> str:
    """One statement the filter accepted, interrupted from a timer after `time_limit` seconds."""
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        con.interrupt()  # on an idle connection a late interrupt is a no-op, not a trap for the next query

    timer = threading.Timer(time_limit, stop)
    timer.daemon = True
    timer.start()
    try:
        return _render(con, statement, fmt)
    except duckdb.Error as error:
        translated = _translated(error, time_limit, timed_out.is_set())
        if translated is None:
            raise
        raise translated from None
    finally:
        timer.cancel()
        timer.join()  # a timer that already fired has finished its interrupt before the connection moves on


def _text(value) -> str:
    return "NULL" if value is None else str(value)


def _as_lines(columns: list[str], rows: list[tuple]) -> str:
    """One `column = value` line per column, a blank line between rows (the DuckDB shell's .mode line)."""
    width = max(map(len, columns), default=0)
    return "\n\n".join(
        "\n".join(f"{c:>{width}} = {_text(v)}" for c, v in zip(columns, row, strict=True)) for row in rows
    )


def _as_markdown(columns: list[str], rows: list[tuple]) -> str:
    def cells(values) -> str:
        return "| " + " | ".join(_text(v).replace("|", "\\|").replace("\n", " ") for v in values) + " |"

    return "\n".join([cells(columns), "|" + "|".join("---" for _ in columns) + "|", *map(cells, rows)])

"""`cartwh sql`: one query on the published copy (`run_sql`), or the interactive session (`shell`),
shaped like the DuckDB shell: statements end with ';' and may span lines (a ';' in a string or a
comment ends nothing: DuckDB's tokenizer decides), dot commands (.tables, .schema, .mode, .help,
.quit/.exit) act at once, Ctrl-C stops the running statement (or clears the line being typed) and
the session goes on, Ctrl-D leaves.

On a terminal, GNU readline (Python's standard library; no extra dependency) gives line editing
and a history kept in ~/.cartwh_sql_history (CARTWH_SQL_HISTORY), mode 0600: it holds the
queries typed, never their results. Each complete statement is one history entry, written as it
is entered, so a killed session loses nothing. Piped input or output (`cartwh sql < queries.sql`,
`cartwh sql > out.csv`) gets no readline, no prompt and its banner on stderr, so stdout holds
the results only.

Every statement, dot commands' own catalog queries included, goes through cartwh/sql/guard.py and
runs in the session's worker process (cartwh/sql/worker.py): the statement filter, DuckDB's
locked guards, the time limit (the worker ended when a statement does not stop) and Ctrl-C
interruption.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from pathlib import Path

import duckdb

from cartwh import settings
from cartwh.sql.guard import (
    FORMATS,
    INTERRUPTED,
    OUT_OF_MEMORY,
    QueryStopped,
    ReadOnlyRefusal,
    read_only_statements,
    tokens,
)
from cartwh.sql.worker import Worker

HISTORY_ENTRIES = 1000
PROMPT, CONTINUATION = "cartwh> ", "   ...> "
COMMANDS = ".tables .schema .mode .help .quit .exit"
HELP = f"""\
.tables [PATTERN]   the copy's tables as schema.table (PATTERN as in LIKE: .tables marts.%)
.schema [TABLE]     CREATE TABLE statements: columns and types (every table, or TABLE)
.mode [MODE]        output as {", ".join(FORMATS[:-1])} or {FORMATS[-1]}; no MODE: the current one
.help               this text
.quit, .exit        leave (Ctrl-D too)
Statements end with ';' and may span lines. Ctrl-C stops the running statement,
or clears what is being typed; the session goes on. Only queries run (SELECT,
FROM, WITH, VALUES, SHOW, DESCRIBE, SUMMARIZE, PIVOT, EXPLAIN of a query).
Bare names resolve in marts first, then analytics, reference, quality, ops:
FROM patients is marts.patients. SHOW TABLES lists every table (unqualified),
SHOW ALL TABLES with schemas and columns, DESCRIBE marts.patients the columns.
History (queries, not results): {{history}}"""


def history_path() -> Path:
    value = os.environ.get("CARTWH_SQL_HISTORY")
    return Path(value).expanduser() if value else Path.home() / ".cartwh_sql_history"


# --- history and line editing on a terminal -----------------------------------------------------


class _History:
    """GNU readline with a private history file; entries are whole statements."""

    def __init__(self, path: Path):
        import readline  # only on a terminal: importing it can write escape codes to stdout

        self.readline, self.path = readline, path
        readline.set_auto_history(False)  # one entry per statement, not per line typed
        readline.parse_and_bind("set enable-bracketed-paste on")
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
            os.close(descriptor)
            os.chmod(path, 0o600)  # a file made before, or by another tool, is narrowed too
            readline.read_history_file(path)
            if readline.get_current_history_length() > HISTORY_ENTRIES:
                readline.set_history_length(HISTORY_ENTRIES)
                readline.write_history_file(path)
                readline.set_history_length(-1)
            self.writable = True
        except OSError as error:  # a read-only home: editing still works, the history is not kept
            print(f"history not kept ({path}: {error.strerror})", file=sys.stderr)
            self.writable = False

    def add(self, lines: list[str]) -> None:
        """A statement of several lines becomes one line, unless a `--` comment would swallow the rest."""
        entries = lines if any("--" in line for line in lines) else [" ".join(line.strip() for line in lines)]
        entries = [e for e in entries if e.strip()]
        for entry in entries:
            self.readline.add_history(entry)
        if self.writable and entries:
            try:
                self.readline.append_history_file(len(entries), self.path)
            except OSError:
                self.writable = False


def ends_statement(text: str) -> bool:
    """Whether `text` ends a statement: its last token but comments is a ';', as DuckDB's own
    tokenizer reads it, so a ';' in a string, a quoted name or a comment (closed or not) does not
    end what is being typed. The statements are then split by DuckDB's parser (cartwh.sql.guard)."""
    words = tokens(text)
    return bool(words) and words[-1][1:] == (duckdb.token_type.operator, b";")


# --- dot commands -------------------------------------------------------------------------------


def _in_columns(names: list[str], width: int) -> str:
    """Names in columns down then across, as `ls` and the DuckDB shell's .tables lay them out."""
    if not names:
        return ""
    cell = max(map(len, names)) + 2
    per_line = max(1, width // cell)
    lines = math.ceil(len(names) / per_line)
    columns = [names[i * lines : (i + 1) * lines] for i in range(per_line)]
    return "\n".join("".join(f"{c[row]:<{cell}}" for c in columns if row < len(c)).rstrip() for row in range(lines))


def _tables(worker: Worker, argument: str) -> str:
    rows = worker.rows(
        "SELECT schema_name || '.' || table_name AS name FROM duckdb_tables() "
        "WHERE name ILIKE ? ORDER BY schema_name = 'marts' DESC, name",
        [argument or "%"],
    )
    if not rows:
        return f"no table matches {argument!r}" if argument else "the published copy holds no tables"
    return _in_columns([name for (name,) in rows], shutil.get_terminal_size((80, 24)).columns)


def _schema(worker: Worker, argument: str) -> str:
    rows = worker.rows(
        "SELECT sql FROM duckdb_tables() WHERE ? = '' OR schema_name || '.' || table_name ILIKE ? "
        "OR table_name ILIKE ? ORDER BY schema_name = 'marts' DESC, schema_name, table_name",
        [argument, argument, argument],
    )
    if not rows:
        return f"no table named {argument!r}; .tables lists them"
    return "\n".join(sql for (sql,) in rows)


def _dot_command(worker: Worker, line: str, state: dict) -> str | None:
    """The answer to a dot command, or None for .quit/.exit."""
    word, _, argument = line.strip().rstrip(";").strip().partition(" ")
    argument = argument.strip()
    if word in {".quit", ".exit"}:
        return None
    if word == ".tables":
        return _tables(worker, argument)
    if word == ".schema":
        return _schema(worker, argument)
    if word == ".help":
        return HELP.format(history=history_path())
    if word == ".mode":
        if not argument:
            return f"mode: {state['mode']}"
        if argument not in FORMATS:
            return f"unknown mode {argument!r}: choose {', '.join(FORMATS)}"
        state["mode"] = argument
        return f"mode: {argument}"
    return f"unknown command: {word} (cartwh sql has {COMMANDS}; .help says more)"


# --- the session ------------------------------------------------------------------------------


def run_sql(path: Path, sql: str, fmt: str = "table", time_limit: float | None = None) -> str:
    """`cartwh sql QUERY`: the statements of `sql` on the published copy, each in the worker
    process whose end is the time limit's last word (cartwh/sql/worker.py)."""
    time_limit = settings.sql_time_limit() if time_limit is None else time_limit
    read_only_statements(sql)  # refuse before opening anything
    with Worker(path) as worker:
        return worker.statements(sql, fmt, time_limit)


def shell(path: Path, fmt: str = "table", read=None, write=print, time_limit: float | None = None) -> None:
    """Read statements and dot commands until .quit, .exit or end of input. `read(prompt)` and
    `write(text)` default to the terminal (readline and history when stdin is one, else plain
    lines and no prompt); a refused, failed or stopped statement prints its message and the
    session goes on."""
    time_limit = settings.sql_time_limit() if time_limit is None else time_limit
    on_terminal = read is None and sys.stdin.isatty() and sys.stdout.isatty()
    piped = read is None and not on_terminal  # input or output (`> out.csv`) not a terminal: results only
    history = _History(history_path()) if on_terminal else None
    if read is None:
        read = input if on_terminal else (lambda prompt: input())  # piped: no prompts among the results
    worker = Worker(path)
    state = {"mode": fmt}
    try:
        text = worker.banner(time_limit)
        print(text, file=sys.stderr) if piped else write(text)
        lines: list[str] = []
        while True:
            try:
                line = read(CONTINUATION if lines else PROMPT)
            except EOFError:
                if on_terminal:
                    write("")  # leave the terminal's prompt on a line of its own
                break
            except KeyboardInterrupt:  # Ctrl-C while typing drops the statement being typed
                lines = []
                write("")
                continue
            try:
                if not lines and line.lstrip().startswith("."):
                    if history:
                        history.add([line])
                    answer = _dot_command(worker, line, state)
                    if answer is None:
                        break
                    write(answer)
                    continue
                if not line.strip() and not lines:
                    continue
                lines.append(line)
                if not ends_statement("\n".join(lines)):
                    continue
                statement, lines = "\n".join(lines), []
                if history:
                    history.add(statement.splitlines())
                write(worker.statements(statement, state["mode"], time_limit).rstrip("\n"))  # csv ends in one
            except (ReadOnlyRefusal, QueryStopped, duckdb.Error) as error:
                write(str(error))
            except MemoryError:  # Python's share of a result (csv/json) under the process cap
                write(OUT_OF_MEMORY)
            except KeyboardInterrupt:  # Ctrl-C just before the query started, or while its result prints
                write(INTERRUPTED)
    finally:
        worker.close()

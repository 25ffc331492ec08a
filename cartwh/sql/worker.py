"""Where `cartwh sql` runs its statements: a worker process of its own, so that the time limit
holds for every statement.

DuckDB stops a query it is asked to interrupt between two vectors of rows; one function call that
runs for minutes on a single vector (`levenshtein` on 6,000-character strings over 2,048 rows)
does not look up until it is done. The worker opens the published copy with every guard
(cartwh.sql.guard.open_published), caps its own address space, and runs each statement under the time
limit as before (a timer interrupts it). The session, in the analyst's process, is the watchdog:
when a statement has not answered `GRACE` after its limit, the worker is ended (SIGKILL) and the
next statement gets a new one. Ctrl-C reaches the worker as SIGUSR1 (it ignores the terminal's
SIGINT, which the session handles) and interrupts the running statement; a worker whose session
died ends within a second.

Requests and answers travel as pickles over a socket pair: (kind, arguments) in, ("ok", value)
or ("error", class name, message) out, the exception raised again on the session's side.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path

import duckdb

from cartwh.night.published_night import describe, published_night
from cartwh.sql.guard import (
    INTERRUPTED,
    QueryStopped,
    ReadOnlyRefusal,
    cap_process_memory,
    open_published,
    read_only_statements,
    run_statement,
)


def grace(time_limit: float) -> float:
    """How long after its limit a statement may take to stop before its worker is ended."""
    return 2.0 + 0.1 * time_limit


class Worker:
    """The session's side: `statements`, `rows` and `banner` run in the worker process, started
    on first use and again after one was ended."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._process: subprocess.Popen | None = None
        self._pipe: Connection | None = None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def statements(self, sql: str, fmt: str, time_limit: float) -> str:
        """Every statement of `sql` checked (cartwh.sql.guard.read_only_statements), then each run in turn."""
        return "\n".join(
            self._ask("statement", (s.query, fmt, time_limit), time_limit + grace(time_limit))
            for s in read_only_statements(sql)
        )

    def rows(self, sql: str, parameters: list) -> list[tuple]:
        """A catalog query of the shell's own (dot commands, the banner)."""
        return self._ask("rows", (sql, parameters), None)

    def banner(self, time_limit: float) -> str:
        return self._ask("banner", (time_limit,), None)

    def close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()  # an idle worker reads the end of its input and leaves
        if self._process is not None:
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._end()
        self._process = self._pipe = None

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "cartwh.sql.worker", str(self.path), str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
        )
        theirs.close()
        self._pipe = Connection(ours.detach())
        self._answer(self._wait(None))  # opened, or why not (no published copy yet, a setting)

    def _ask(self, kind: str, arguments: tuple, seconds: float | None):
        if self._process is None:
            self._start()
        self._pipe.send((kind, arguments))
        answer = self._wait(seconds)
        if answer is None:  # the watchdog: the statement ran past its limit and did not stop when interrupted
            self._end()
            (_, _, time_limit) = arguments
            raise QueryStopped(
                f"stopped: the query ran longer than its time limit of {time_limit:g} s (CARTWH_SQL_TIMEOUT) and did "
                "not stop when interrupted (one function call DuckDB cannot interrupt, e.g. levenshtein on long "
                "strings), so its worker process was ended; the session is still usable"
            )
        return self._answer(answer)

    def _wait(self, seconds: float | None) -> tuple | None:
        """The worker's answer, or None when `seconds` passed first. Ctrl-C meanwhile interrupts the
        worker's statement, whose answer then says so."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            try:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not self._pipe.poll(left):
                    return None
                return self._pipe.recv()
            except KeyboardInterrupt:
                self._process.send_signal(signal.SIGUSR1)
            except (EOFError, OSError):  # the worker died (killed from outside, or its memory cap)
                self._end()
                raise QueryStopped(
                    "stopped: the query's worker process ended unexpectedly; the session is still usable"
                ) from None

    def _end(self) -> None:
        self._process.kill()
        self._process.wait()
        self._pipe.close()
        self._process = self._pipe = None

    @staticmethod
    def _answer(answer: tuple):
        """The worker's value, or its error raised again as the same class."""
        if answer[0] == "ok":
            return answer[1]
        _, name, message = answer
        raise _error_class(name)(message)


_ERRORS = {c.__name__: c for c in (ReadOnlyRefusal, QueryStopped, MemoryError, FileNotFoundError, ValueError)}


def _error_class(name: str) -> type[Exception]:
    found = _ERRORS.get(name) or getattr(duckdb, name, None)
    return found if isinstance(found, type) and issubclass(found, Exception) else RuntimeError


# --- the worker's side -------------------------------------------------------------------------


def _interruptible(con: duckdb.DuckDBPyConnection, work):
    """`work()` in a helper thread, so SIGUSR1 (Ctrl-C in the session) interrupts the query: Python
    runs a signal handler in the main thread only between bytecodes, never while DuckDB computes,
    but it does while the main thread waits here."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        done = pool.submit(work)
        try:
            return done.result()
        except KeyboardInterrupt:
            con.interrupt()
            return done.result()  # QueryStopped: "the query was interrupted"


def banner(con: duckdb.DuckDBPyConnection, path: Path, time_limit: float) -> str:
    """What the session starts with, every line within 80 columns (the path's own line aside);
    made here in the worker, on its connection."""
    night = published_night(con)
    has_patients = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts' AND table_name = 'patients'"
    ).fetchall()[0][0]
    example = (
        "SELECT bridging_group, count(*) AS patients FROM marts.patients GROUP BY ALL;"
        if has_patients
        else "SHOW ALL TABLES;"
    )
    return "\n".join(
        [
            f"cartwh sql on the published copy (read-only; a query stops after {time_limit:g} s):",
            f"  {path}",
            f"Night of {describe(night)}." if night else "Its run history is empty.",
            "End statements with ';'. .tables lists tables, .help commands; Ctrl-D leaves.",
            "Try:",
            f"  {example}",
        ]
    )


def serve(path: Path, pipe: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C is the session's to forward
    signal.signal(signal.SIGUSR1, signal.default_int_handler)  # ... as this: interrupt the statement
    _leave_with_the_session()
    try:
        cap_process_memory()
        con = open_published(path)
    except Exception as error:  # noqa: BLE001 (said on the session's side)
        pipe.send(("error", type(error).__name__, str(error)))
        return
    pipe.send(("ok", None))
    handlers = {
        "statement": lambda sql, fmt, limit: run_statement(con, duckdb.extract_statements(sql)[0], fmt, limit),
        "rows": lambda sql, parameters: con.execute(sql, parameters).fetchall(),
        "banner": lambda limit: banner(con, path, limit),
    }
    while True:
        try:
            kind, arguments = pipe.recv()
        except (EOFError, OSError):
            return
        try:
            answer = ("ok", _interruptible(con, functools.partial(handlers[kind], *arguments)))
        except KeyboardInterrupt:  # a Ctrl-C that came between two statements
            answer = ("error", "QueryStopped", INTERRUPTED)
        except Exception as error:  # noqa: BLE001 (raised again on the session's side)
            answer = ("error", type(error).__name__, str(error))
        pipe.send(answer)


def _leave_with_the_session() -> None:
    """End this process within a second of its session's end, even inside a statement that cannot
    be interrupted."""
    session = os.getppid()

    def watch() -> None:
        while os.getppid() == session:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="session-watch", daemon=True).start()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), Connection(int(sys.argv[2])))

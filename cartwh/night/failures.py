"""What went wrong, said in one sentence an operator can act on.

A night that fails ends with one message (and the same sentence in ops.run_history.message),
not a traceback: the full traceback stays in the run's log. The failures we know how to name
are a full disk, a damaged working warehouse and an interruption; anything else is reported as
its own first line.
"""

from __future__ import annotations

import errno
import re
import shutil
from pathlib import Path

import duckdb

# How DuckDB, SQLite (Dagster's storage) and the OS word the failures (checked on DuckDB 1.4-2.0,
# SQLite 3.4x and Linux).
_DISK_FULL = (
    "No space left on device",
    "ENOSPC",
    "Disk quota exceeded",
    "could not allocate block",
    "database or disk is full",
)
# SQLite's word for a write that failed, a full disk among other causes: told apart by the volume's free space.
_WRITE_FAILED = ("disk I/O error",)
_NEARLY_FULL_BYTES = 4 * 2**20
_DAMAGED = (
    "Failure while replaying WAL",
    "Corrupt WAL",
    "Corrupt database file",
    "not a valid DuckDB database",
    "Could not read enough bytes",
    "WAL does not match database file",
    "database file is corrupt",
)
_INTERRUPTED = ("DagsterExecutionInterruptedError", "KeyboardInterrupt")
# Dagster's error when a blocking asset check fails: "N blocking asset check(s) failed with ERROR
# severity:" then one "<asset/key>: <check name>" line per check (Dagster 1.13).
_CHECK_FAILED = "blocking asset check"


class WarehouseDamaged(Exception):
    """The working warehouse cannot be opened or read: only a rebuild from the archive helps."""

    OPENING = "The working warehouse "

    def __init__(self, path: Path, cause: str):
        self.path = path
        super().__init__(
            f"{self.OPENING}{path} is damaged ({_first_line(cause)}). Nothing was changed and the "
            "published copy is intact. Run `cartwh rebuild` to rebuild it from the archive (the damaged "
            "file and its write-ahead log are kept aside as *.before-rebuild.duckdb)."
        )


def check_working_warehouse(path: Path) -> None:
    """Open the working warehouse as a run would (replaying any write-ahead log) and read its
    catalog, ledger and run history; raise WarehouseDamaged if that fails. Damage inside other
    tables' blocks is found when they are read (DuckDB checksums every block) and named the
    same way by `describe`."""
    path = Path(path)
    if not path.exists():
        if Path(f"{path}.wal").exists():
            raise WarehouseDamaged(path, "a write-ahead log is there without its database")
        return  # the first run: nothing to check
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        if _is_lock_conflict(str(error)):
            raise  # another process has it open: not damage
        raise WarehouseDamaged(path, str(error)) from error
    try:
        tables = {r[0] for r in con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables()").fetchall()}
        if "raw.landed_files" in tables:
            con.execute(
                "SELECT count(*), sum(bytes), max(sha256), max(file), max(archive_path) FROM raw.landed_files"
            ).fetchall()
        if "ops.run_history" in tables:
            con.execute("SELECT count(*), max(run_id), max(status) FROM ops.run_history").fetchall()
    except duckdb.Error as error:
        raise WarehouseDamaged(path, str(error)) from error
    finally:
        con.close()


def is_disk_full(error: BaseException) -> bool:
    return (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)) or _mentions(
        str(error), _DISK_FULL
    )


def describe(text: str, kind: str = "", where: Path | None = None) -> str:
    """One sentence for a failure, from its message (and class name, `kind`). A full disk names
    the volume of the file the message names (else of `where`)."""
    if _mentions(f"{kind} {text}", _INTERRUPTED):
        return "interrupted (Ctrl-C or SIGTERM) before it finished; the published copy is unchanged."
    if _mentions(text, (_CHECK_FAILED,)):
        return _blocked(text)
    written = _file_named(text) or (Path(where) if where else None)
    if _mentions(text, _DISK_FULL) or (_mentions(text, _WRITE_FAILED) and _nearly_full(written)):
        volume = f" (the volume of {written})" if written else ""
        return (
            f"the disk is full{volume}: {_first_line(_around(text, _DISK_FULL + _WRITE_FAILED))}. Nothing "
            "half-written was kept and the published copy is unchanged; free space, then run again."
        )
    if _mentions(text, _DAMAGED):
        ours = _around(text, (WarehouseDamaged.OPENING,))
        if WarehouseDamaged.OPENING in ours:  # already our sentence, behind Dagster's class names
            return ours[ours.index(WarehouseDamaged.OPENING) :].strip()
        return (
            f"a warehouse file is damaged ({_first_line(_around(text, _DAMAGED))}); run `cartwh rebuild` to "
            "rebuild it from the archive."
        )
    return _first_line(text)


def _blocked(text: str) -> str:
    lines = [line.strip() for line in text.splitlines()]
    start = next(i for i, line in enumerate(lines) if _CHECK_FAILED in line.lower()) + 1
    checks = []
    for line in lines[start:]:
        if ": " not in line or line.startswith("Stack Trace"):
            break
        asset, check = line.split(": ", 1)
        checks.append(f"{check} on {asset}")
    return (
        f"blocked by a failed blocking data-quality check ({', '.join(checks) or 'see the log'}): the statistics, "
        "the study report and publication did not run and the published copy is unchanged; the data-quality "
        "report says what to correct."
    )


def _file_named(text: str) -> Path | None:
    """The file a write error names: DuckDB's 'file "<path>"', Python's OSError ': '<path>''."""
    found = re.search(r'file "([^"]+)"', text) or re.search(r"\] [^:]+: '([^']+)'", text)
    return Path(found.group(1)) if found else None


def _nearly_full(path: Path | None) -> bool:
    """Whether the volume holding `path` (or its nearest existing folder) is (all but) full."""
    while path is not None and not path.exists() and path != path.parent:
        path = path.parent
    try:
        return path is not None and shutil.disk_usage(path).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


def _is_lock_conflict(text: str) -> bool:
    return "Could not set lock on file" in text or "Conflicting lock" in text


def _mentions(text: str, needles: tuple[str, ...]) -> bool:
    return any(n.lower() in text.lower() for n in needles)


def _around(text: str, needles: tuple[str, ...]) -> str:
    """The line of `text` that names the failure (Dagster and dbt wrap it in lines of their own)."""
    return next((line for line in text.splitlines() if _mentions(line, needles)), text)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    line = lines[0] if lines else "no message"
    return line if len(line) <= 300 else line[:297] + "..."

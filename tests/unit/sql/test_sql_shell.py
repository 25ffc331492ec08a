"""The interactive `cartwh sql` on a real pseudo-terminal, as an analyst types into it, and the
one- or two-sentence answers of `cartwh sql` and `cartwh status` when there is no published copy.

The published copy is a small DuckDB file built here in the publication's shape (marts, analytics,
ops.run_history, the de-identified quality tables); no job runs.
"""

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from cartwh.night.published_night import leave_unpublished_marker, marker_path, missing_copy_message
from cartwh.night.run_history import RunSummary
from cartwh.sql.shell import shell
from cartwh.warehouse.schema import BY_NAME

CARTWH = str(Path(sys.executable).with_name("cartwh"))
BOMB = "SELECT count(*) FROM range(100000) a, range(100000) b, range(100000) c"
PUBLISHED_RUN = "4be1c0de-0000-4000-8000-000000000001"
BLOCKED_RUN = "b10cced0-0000-4000-8000-000000000002"


def _history(con, run_id: str, status: str, started: str, finished: str, blocking: int) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS ops; " + BY_NAME["ops.run_history"].create())  # as published
    con.execute(
        "INSERT INTO ops.run_history VALUES (?, ?, ?, ?, 0, 40, ?, ?, '{}', '{}', NULL)",
        [run_id, started, finished, status, blocking, blocking],
    )


@pytest.fixture
def site(tmp_path) -> Path:
    published = tmp_path / "published" / "warehouse.duckdb"
    published.parent.mkdir()
    con = duckdb.connect(str(published))
    con.execute("CREATE SCHEMA marts; CREATE SCHEMA analytics; CREATE SCHEMA quality")
    con.execute(
        "CREATE TABLE marts.patients AS SELECT * FROM (VALUES ('3f9a0c1d2e4b5a67', 'inotuzumab'), "
        "('8b7c6d5e4f3a2b1c', 'chemotherapy'), ('0a1b2c3d4e5f6a7b', 'chemotherapy')) t(patient_key, bridging_group)"
    )
    con.execute("CREATE TABLE analytics.km_estimates (analysis VARCHAR, time_months DOUBLE, survival DOUBLE)")
    con.execute(
        "CREATE TABLE quality.files_per_source AS SELECT 'redcap' AS source, 13 AS current_files, "
        "2 AS superseded_files, 400 AS rows_loaded, 3 AS rows_quarantined, now() AS last_loaded_at"
    )
    con.execute(
        "CREATE TABLE quality.quarantine_counts AS SELECT * FROM (VALUES "
        "('redcap', 'sex', 'sex: 7 is not a code of the field (rows 4)', '3f9a0c1d2e4b5a67', true, 2), "
        "('redcap', 'sex', 'sex: 9 is not a code of the field (rows 8)', '8b7c6d5e4f3a2b1c', true, 1), "
        "('redcap', 'sex', 'sex: 5 is not a code of the field (rows 2)', '8b7c6d5e4f3a2b1c', false, 4)) "
        "t(source, column_name, reason, patient_key, in_current_files, rows_quarantined)"
    )
    _history(con, PUBLISHED_RUN, "published", "2026-11-30 02:00:03", "2026-11-30 02:07:41", 0)
    con.close()
    return tmp_path


def _env(site: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(site),
        "CARTWH_DATA": str(site),
        "CARTWH_PUBLISHED": str(site / "published" / "warehouse.duckdb"),
        "CARTWH_WAREHOUSE": str(site / "warehouse.duckdb"),
        "TERM": "xterm",
    }


class Terminal:
    """`cartwh sql` with a pseudo-terminal as its controlling terminal: what it prints is read
    back, keys go in as a keyboard sends them (Up is ESC [ A, Ctrl-C is 0x03, Ctrl-D is 0x04)."""

    def __init__(self, site: Path, *args: str):
        master, child = os.openpty()
        fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.process = subprocess.Popen(
            [CARTWH, "sql", *args],
            stdin=child,
            stdout=child,
            stderr=child,
            cwd=site,
            env=_env(site),
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(child)
        self.master, self.raw, self.seen = master, b"", 0

    @property
    def screen(self) -> str:
        """What was printed, without terminal control sequences and carriage returns."""
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r", "", self.raw.decode(errors="replace"))

    def expect(self, text: str, timeout: float = 20) -> str:
        """Wait until `text` is printed after what an earlier expect matched; returns the output until it."""
        deadline = time.monotonic() + timeout
        while text not in self.screen[self.seen :]:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{text!r} not printed; the screen after the last match:\n{self.screen[self.seen :]}"
                )
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.raw += os.read(self.master, 65536)
                except OSError:  # the child closed the terminal
                    time.sleep(0.1)
        start = self.seen
        self.seen = self.screen.index(text, start) + len(text)
        return self.screen[start : self.seen]

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> int:
        try:
            return self.process.wait(timeout=20)
        finally:
            self.process.kill()
            os.close(self.master)


def test_history_recalls_statements_with_up_within_and_across_sessions(site):
    history = site / ".cartwh_sql_history"
    history.write_text("SELECT 'older' AS o;\n")  # left by an earlier session, readable by others
    history.chmod(0o644)
    first = Terminal(site)
    banner = first.expect("cartwh> ")
    assert (
        "Try:" in banner and "SELECT bridging_group, count(*) AS patients FROM marts.patients GROUP BY ALL;" in banner
    )
    path_line = f"  {site / 'published' / 'warehouse.duckdb'}"
    assert all(len(line) <= 80 for line in banner.splitlines() if line != path_line), banner
    assert "Night of run 4be1c0de (2026-11-30 02:00:03 to 02:07:41 UTC, published)." in banner
    first.type("SELECT 6 * 7\r")  # a statement over two lines
    first.expect("   ...> ")
    first.type("AS answer;\r")
    first.expect("42")
    first.expect("cartwh> ")
    first.type("\x1b[A\r")  # Up: the whole statement again, as one line
    first.expect("SELECT 6 * 7 AS answer;")
    first.expect("42")
    first.expect("cartwh> ")
    first.type("\x04")  # Ctrl-D leaves
    assert first.close() == 0
    assert history.stat().st_mode & 0o777 == 0o600  # narrowed: it holds queries
    assert history.read_text().splitlines() == ["SELECT 'older' AS o;"] + ["SELECT 6 * 7 AS answer;"] * 2

    second = Terminal(site)
    second.expect("cartwh> ")
    second.type("\x1b[A\r")
    second.expect("42")
    second.expect("cartwh> ")
    second.type("\x1b[A" * 4 + "\r")  # past the three answers: the earlier session's statement
    second.expect("older")
    second.expect("cartwh> ")
    second.type(".quit\r")
    assert second.close() == 0
    assert "Traceback" not in first.screen + second.screen


def test_dot_commands_and_show_tables(site):
    terminal = Terminal(site)
    terminal.expect("cartwh> ")
    terminal.type(".tables\r")
    listing = terminal.expect("cartwh> ")
    # marts first, then the other schemas; in columns down then across, within 80 (2 of 27)
    assert listing.split("\n")[1:-1] == [
        "marts.patients             quality.files_per_source",
        "analytics.km_estimates     quality.quarantine_counts",
        "ops.run_history",
    ]
    terminal.type(".schema marts.patients\r")
    assert "CREATE TABLE marts.patients(patient_key VARCHAR, bridging_group VARCHAR);" in terminal.expect("cartwh> ")
    terminal.type(".schema no_such\r")
    assert "no table named 'no_such'; .tables lists them" in terminal.expect("cartwh> ")
    terminal.type(".mode csv\r")
    terminal.expect("mode: csv\ncartwh> ")
    terminal.type("SELECT bridging_group, count(*) AS n FROM patients GROUP BY ALL ORDER BY 1;\r")  # marts by default
    assert "bridging_group,n\nchemotherapy,2\ninotuzumab,1\n" in terminal.expect("cartwh> ")
    terminal.type("SHOW TABLES;\r")
    assert terminal.expect("cartwh> ").split("\n")[1:-1] == [
        "name",
        "files_per_source",
        "km_estimates",
        "patients",
        "quarantine_counts",
        "run_history",
    ]
    terminal.type(".mode line\r")
    terminal.expect("mode: line\ncartwh> ")
    terminal.type("SELECT 'inotuzumab' AS bridging_group, 1 AS n;\r")
    assert "bridging_group = inotuzumab\n             n = 1\n" in terminal.expect("n = 1\ncartwh> ")
    terminal.type(".mode markdown\r")
    terminal.expect("mode: markdown\ncartwh> ")
    terminal.type("SELECT 'a|b' AS x, NULL AS y;\r")
    assert "| x | y |\n|---|---|\n| a\\|b | NULL |\n" in terminal.expect("NULL |\ncartwh> ")
    terminal.type(".mode html\r")
    assert "unknown mode 'html': choose table, csv, json, line, markdown" in terminal.expect("cartwh> ")
    terminal.type(".help\r")
    assert ".schema [TABLE]" in terminal.expect("cartwh> ")
    terminal.type(".shell ls\r")
    assert "unknown command: .shell" in terminal.expect("cartwh> ")
    terminal.type(".exit\r")
    assert terminal.close() == 0
    assert "Traceback" not in terminal.screen


def test_ctrl_c_stops_the_running_query_or_clears_the_line_and_the_shell_survives(site):
    terminal = Terminal(site)
    terminal.expect("cartwh> ")
    terminal.type(f"{BOMB};\r")
    terminal.expect(f"{BOMB};\n")
    time.sleep(1)  # the query is running
    started = time.monotonic()
    terminal.type("\x03")
    terminal.expect("stopped: the query was interrupted (Ctrl-C); the session is still usable\ncartwh> ")
    assert time.monotonic() - started < 10
    terminal.type("SELECT upper('still here') AS s;\r")
    terminal.expect("STILL HERE")
    terminal.expect("cartwh> ")  # typing ahead of a prompt races readline taking over the terminal
    terminal.type("SELECT 'half typed")  # Ctrl-C while typing drops the line, not the session
    terminal.expect("half typed")
    # Python notices a signal at the prompt only while readline waits in select(); a Ctrl-C within
    # microseconds of the echo of a key (no typist's, but a test's) would wait for the next key.
    time.sleep(0.3)
    terminal.type("\x03")
    terminal.expect("cartwh> ")  # a fresh prompt, as a person waits for before typing on
    terminal.type("SELECT upper('next') AS s;\r")
    after = terminal.expect("NEXT")
    assert "Error" not in after
    terminal.expect("cartwh> ")
    terminal.type("\x04")
    assert terminal.close() == 0
    assert "Traceback" not in terminal.screen


def test_piped_statements_print_only_results(site):
    result = subprocess.run(
        [CARTWH, "sql", "--format", "csv"],
        input="SELECT count(*) AS n FROM patients;\n",
        env=_env(site),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout == "n\n3\n"
    assert result.stderr.startswith("cartwh sql on the published copy")
    assert not (site / ".cartwh_sql_history").exists()


# --- no published copy: which case, in one or two sentences ----------------------------------


def _summary(run_id: str, status: str, blocking: int) -> RunSummary:
    return RunSummary(
        run_id, datetime(2026, 12, 1, 2, 0, 3), datetime(2026, 12, 1, 2, 6, 12), status, 37, blocking, blocking
    )


def _sentences(text: str) -> int:
    return len(re.findall(r"[.!?](?:\s|$)", text.replace("`make run`", "")))


def _cartwh(site: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CARTWH, *args], env=_env(site), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def test_no_run_yet_says_run_make_run_first(tmp_path):
    for command in (("sql",), ("sql", "SELECT 1"), ("status",)):
        result = _cartwh(tmp_path, *command)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr == (
            f"No published warehouse at {tmp_path / 'published' / 'warehouse.duckdb'} yet: no run has "
            f"finished; run `make run` first (or wait for the nightly run).\n"
        )


def test_a_blocked_first_run_is_named_from_the_working_history(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    _history(con, BLOCKED_RUN, "blocked", "2026-12-01 02:00:03", "2026-12-01 02:06:12", 2)
    con.close()
    result = _cartwh(tmp_path, "sql", "SELECT 1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"No published warehouse at {tmp_path / 'published' / 'warehouse.duckdb'}: the last run, "
        "run b10cced0 (2026-12-01 02:00:03 to 02:06:12 UTC, blocked by 2 failing blocking "
        "checks), was stopped by its data-quality checks, so nothing was published."
    )
    assert "run `make run` first" not in result.stderr and _sentences(result.stderr) == 2


def test_a_blocked_run_is_named_from_its_marker_when_the_working_warehouse_is_locked(tmp_path):
    """What an analyst meets: the working warehouse held by a running night (or not theirs to read);
    the marker the blocked night left beside the published copy still tells."""
    published, working = tmp_path / "published" / "warehouse.duckdb", tmp_path / "warehouse.duckdb"
    leave_unpublished_marker(published, _summary(BLOCKED_RUN, "blocked", 1))
    assert json.loads(marker_path(published).read_text())["status"] == "blocked"
    with _running_night(working):
        message = missing_copy_message(published, working)
    assert "run b10cced0 (2026-12-01 02:00:03 to 02:06:12 UTC, blocked by 1 failing blocking check)" in message
    assert _sentences(message) == 2


def test_a_run_that_does_not_publish_leaves_its_marker_readable_like_the_copy(tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.run_summary import record_failure

    published = tmp_path / "published" / "warehouse.duckdb"
    monkeypatch.setenv("CARTWH_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("CARTWH_PUBLISHED", str(published))
    previous = os.umask(0o077)  # as `cartwh run` works: the marker and its folder are opened up explicitly
    try:
        record_failure(dg.DagsterInstance.ephemeral(), BLOCKED_RUN)
    finally:
        os.umask(previous)
    night = json.loads(marker_path(published).read_text())
    assert (night["run_id"], night["status"], night["blocking_checks_failed"]) == (BLOCKED_RUN, "failed", 0)
    assert marker_path(published).stat().st_mode & 0o777 == 0o640 and published.parent.stat().st_mode & 0o777 == 0o750
    assert not (published.parent / (marker_path(published).name + ".next")).exists()


def test_a_failed_first_run_is_not_called_blocked(tmp_path):
    published = tmp_path / "published" / "warehouse.duckdb"
    leave_unpublished_marker(published, _summary(BLOCKED_RUN, "failed", 0))
    message = missing_copy_message(published, tmp_path / "warehouse.duckdb")
    assert "UTC, failed), ended before publishing" in message and "blocked" not in message


class _running_night:
    """Another process holding what a night holds: the writer lock and DuckDB's own file lock."""

    def __init__(self, working: Path):
        self.working = working

    def __enter__(self):
        script = (
            "import duckdb, fcntl, sys, time\n"
            f"lock = open({str(self.working) + '.lock'!r}, 'a+'); fcntl.flock(lock, fcntl.LOCK_EX)\n"
            f"con = duckdb.connect({str(self.working)!r}); print('holding', flush=True); time.sleep(60)\n"
        )
        self.process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline() == "holding\n"
        return self

    def __exit__(self, *exc):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)


def test_status_during_a_night_with_no_copy_yet_says_a_run_is_writing(tmp_path):
    with _running_night(tmp_path / "warehouse.duckdb"):
        result = _cartwh(tmp_path, "status")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.endswith("yet: a run is writing the warehouse now; the copy appears when it has finished.\n")


def test_status_reads_the_published_copy_while_a_night_holds_the_warehouse(site):
    leave_unpublished_marker(site / "published" / "warehouse.duckdb", _summary(BLOCKED_RUN, "blocked", 2))
    with _running_night(site / "warehouse.duckdb"):
        result = _cartwh(site, "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == "It holds the night of run 4be1c0de (2026-11-30 02:00:03 to 02:07:41 UTC, published)."
    assert lines[2] == (
        "A later night was not published: run b10cced0 (2026-12-01 02:00:03 to 02:06:12 UTC, blocked by "
        "2 failing blocking checks); the copy is from the night before."
    )
    assert f"{'marts.patients':<40}{3:>12,}" in lines
    assert "  redcap                        15 (2)" in lines  # 13 current + 2 superseded
    # quarantine from the current files only: 2 + 1 rows of one kind of reason
    assert "       3  sex: N is not a code of the field N" in lines
    assert "  marts.patients                  chemotherapy 2, inotuzumab 1" in lines


def test_the_shell_function_runs_without_a_terminal(site):
    lines = iter([".mode json", "SELECT 1 AS one;", ".tables analytics.%", ".quit"])
    out = []
    shell(site / "published" / "warehouse.duckdb", read=lambda prompt: next(lines), write=out.append, time_limit=5)
    assert json.loads(out[2]) == [{"one": 1}]
    assert out[3] == "analytics.km_estimates"


def test_a_semicolon_in_a_string_or_a_comment_does_not_end_the_statement(site):
    lines = iter(["SELECT 'a;", "b' AS s, -- a comment;", "'x;y' AS t /* ; */, 1 AS n; -- the end", ".quit"])
    out = []
    shell(site / "published" / "warehouse.duckdb", "csv", read=lambda prompt: next(lines), write=out.append)
    assert out[1:] == ['s,t,n\n"a;\nb",x;y,1']

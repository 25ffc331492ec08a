"""The REDCap API token never leaves the pull, whatever the server answers (issue 28, item 3).

Four nights (`cartwh run`, as the schedule runs it) pull a site from a server that quotes the token
back: REDCap's 403, an error with HTTP 200, a proxy's 500 HTML page, and a 307 redirect to
another host (which must hear nothing). Each night fails at the pull with one sentence; then every
file the nights wrote is searched for the token: the run logs, the run history in the working
warehouse, Dagster's storage (run and event databases, compute logs), the reports, the
unpublished-run marker. Databases are searched through their own engines (a string stored
compressed or across pages is not a byte run in the file), every other file byte by byte.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from cartwh.contract.redcap import DICTIONARY_PATH, REPEATING_FORMS
from tests.conftest import data_env
from tests.fake_redcap import TOKEN, TOKEN_ECHOES, Answer, Project, Server


def _night(data: Path, url: str) -> subprocess.CompletedProcess:
    env = {
        **data_env(data),
        "NO_PROXY": "127.0.0.1",
        "CARTWH_REDCAP_SITES": "huvr",
        "CARTWH_REDCAP_URL": url,
        "CARTWH_REDCAP_TOKEN": TOKEN,
    }
    return subprocess.run(
        [str(Path(sys.executable).with_name("cartwh")), "run"], env=env, capture_output=True, text=True, timeout=900
    )


def _duckdb_holds(path: Path, needle: str) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        columns = con.execute(
            "SELECT database_name, schema_name, table_name, column_name FROM duckdb_columns() "
            "WHERE data_type = 'VARCHAR' AND NOT internal"
        ).fetchall()
        return [
            f"{path}: {schema}.{table}.{column}"
            for database, schema, table, column in columns
            if con.execute(
                f'SELECT count(*) FROM "{database}"."{schema}"."{table}" WHERE "{column}" ILIKE ?', [f"%{needle}%"]
            ).fetchone()[0]
        ]
    finally:
        con.close()


def _sqlite_holds(path: Path, needle: str) -> list[str]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = []
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for column in [c[1] for c in con.execute(f'PRAGMA table_info("{table}")').fetchall()]:
                hits = con.execute(
                    f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS TEXT) LIKE ?', [f"%{needle}%"]
                ).fetchone()[0]
                if hits:
                    found.append(f"{path}: {table}.{column}")
        return found
    finally:
        con.close()


def _files_holding(folder: Path, needle: str) -> list[str]:
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        head = path.read_bytes()[:16]
        if head.startswith(b"SQLite format 3"):
            found += _sqlite_holds(path, needle)
        elif path.suffix == ".duckdb" and not path.name.endswith(".lock"):
            found += _duckdb_holds(path, needle)
        elif needle.lower().encode() in path.read_bytes().lower():
            found.append(str(path))
    return found


def test_no_file_a_night_writes_holds_the_token(tmp_path, demo_export_path):
    data = tmp_path / "data"
    project = Project.classic(DICTIONARY_PATH, demo_export_path, REPEATING_FORMS)
    elsewhere = Project.classic(DICTIONARY_PATH, demo_export_path, REPEATING_FORMS)
    sentences = []
    with Server(project) as url, Server(elsewhere) as other_url:
        cases = {**TOKEN_ECHOES, "307": lambda form: Answer(307, {"Location": other_url, "Content-Length": "0"})}
        for case, answer in cases.items():
            project.misbehave = answer
            night = _night(data, url)
            assert night.returncode == 1, (case, night.stderr[-2000:])
            failed = [line for line in night.stderr.splitlines() if line.startswith("FAILED: ")]
            assert len(failed) == 1 and "REDCap pull failed, nothing was ingested: site huvr: " in failed[0], case
            sentences.append(failed[0])
    assert elsewhere.requests == []  # the redirect was not followed
    assert "[token withheld]" in sentences[0] and "answered HTTP 307 (a redirect to" in sentences[3]
    assert len(list((data / "logs").glob("run-*.log"))) == 4
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM ops.run_history WHERE status = 'failed'").fetchone()[0] == 4
    finally:
        con.close()
    assert _files_holding(data, TOKEN) == []


@pytest.fixture
def demo_export_path(tmp_path, generated) -> Path:

    generated(tmp_path / "demo")
    [export] = (tmp_path / "demo" / "redcap").glob("*.csv")
    return export

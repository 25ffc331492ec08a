"""`cartwh sql` against an analyst who tries: every attack of issue 12 and the ones around it.

A small published warehouse (a marts table) sits beside a landing folder and an archive whose
exports hold fake names, MRNs and birth dates, as the real layout does. Each attack must be
refused with one line starting "refused:", and afterwards every file of that folder (the
published copy included) must be byte-identical and no file may have appeared. The working
directory is that folder, so relative paths in an attack point at it.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cartwh.sql.guard import QueryStopped, ReadOnlyRefusal, open_published
from cartwh.sql.shell import run_sql, shell

NAMES, MRNS, BIRTH_DATES = (
    ["Lucia Ferrandiz Ortega", "Tomas Aranda Gil"],
    ["MRN4417283", "MRN9023311"],
    ["1983-04-17", "1969-11-02"],
)
KEY = "pseudonym-key-that-must-stay-out-of-reach-7f3a"
BOMB = "SELECT count(*) FROM range(100000) a, range(100000) b, range(100000) c"


def _write_export(path: Path) -> None:
    """A REDCap flat export in the demo's shape: identifiers beside the study fields."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ["record_id,redcap_event_name,patient_name,mrn,birth_date,sex,bt_regimen"]
    rows += [
        f"{i + 1},baseline_arm_1,{n},{m},{b},{i % 2 + 1},inotuzumab"
        for i, (n, m, b) in enumerate(zip(NAMES, MRNS, BIRTH_DATES, strict=True))
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sql_site")
    export = root / "landing" / "redcap" / "cartwh_export_2025-11-25.csv"
    _write_export(export)
    checksum = hashlib.sha256(export.read_bytes()).hexdigest()
    archived = root / "archive" / checksum[:2] / f"{checksum}.csv"
    archived.parent.mkdir(parents=True)
    shutil.copyfile(export, archived)
    published = root / "published" / "warehouse.duckdb"
    published.parent.mkdir()
    con = duckdb.connect(str(published))
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.patients AS SELECT * FROM (VALUES ('3f9a0c1d2e4b5a67', 'inotuzumab'), "
        "('8b7c6d5e4f3a2b1c', 'chemotherapy')) t(patient_key, bridging_group)"
    )
    # The same identifiers in the formats other readers take, so read_json/read_parquet have a target.
    con.execute(
        f"COPY (SELECT * FROM read_csv('{export}')) TO '{root / 'landing' / 'export.parquet'}' (FORMAT parquet)"
    )
    con.execute(f"COPY (SELECT * FROM read_csv('{export}')) TO '{root / 'landing' / 'export.json'}' (FORMAT json)")
    con.close()
    return root


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def published(site, monkeypatch) -> Path:
    """The published copy, with the working directory in its site; afterwards nothing changed."""
    monkeypatch.chdir(site)
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", KEY)
    before = _tree(site)
    yield site / "published" / "warehouse.duckdb"
    assert _tree(site) == before, "a file of the site changed or appeared"


def test_the_site_holds_what_an_unguarded_duckdb_would_leak(site):
    """The attacks below are refused by the guards, not defeated by a missing target."""
    con = duckdb.connect()
    leaked = con.execute(
        f"SELECT patient_name, mrn, birth_date::VARCHAR FROM read_csv('{site}/archive/**/*.csv')"
    ).fetchall()
    assert sorted(leaked) == sorted(zip(NAMES, MRNS, BIRTH_DATES, strict=True))
    assert con.execute(f"SELECT count(*) FROM read_parquet('{site}/landing/export.parquet')").fetchall() == [(2,)]
    assert con.execute(f"SELECT count(*) FROM read_json('{site}/landing/export.json')").fetchall() == [(2,)]
    con.close()


EXPORT = "landing/redcap/cartwh_export_2025-11-25.csv"
PUBLISHED = "published/warehouse.duckdb"

ATTACKS = {
    # reading exports that hold names, MRNs and birth dates
    "read_csv on the landing export": f"SELECT patient_name, mrn, birth_date FROM read_csv('{EXPORT}')",
    "read_csv_auto": f"SELECT * FROM read_csv_auto('{EXPORT}')",
    "read_csv on the archive glob": "SELECT patient_name, mrn, birth_date FROM read_csv('archive/**/*.csv')",
    "read_csv on a list of files": f"SELECT * FROM read_csv(['{EXPORT}'])",
    "read_blob": f"SELECT content FROM read_blob('{EXPORT}')",
    "read_text on the export": f"SELECT content FROM read_text('{EXPORT}')",
    "sniff_csv": f"SELECT * FROM sniff_csv('{EXPORT}')",
    "bare FROM 'file.csv'": f"SELECT * FROM '{EXPORT}'",
    "bare FROM-first 'glob'": "FROM 'archive/**/*.csv'",
    "inside query()": f"SELECT * FROM query('SELECT patient_name FROM read_csv(''{EXPORT}'')')",
    "query_table on a file": f"SELECT * FROM query_table('{EXPORT}')",
    "glob of the archive": "SELECT * FROM glob('archive/**/*.csv')",
    "glob of everything": "SELECT * FROM glob('/**')",
    "read_json": "SELECT * FROM read_json('landing/export.json')",
    "read_json_auto": "SELECT * FROM read_json_auto('landing/export.json')",
    "read_ndjson_objects": "SELECT * FROM read_ndjson_objects('landing/export.json')",
    "read_parquet": "SELECT * FROM read_parquet('landing/export.parquet')",
    "parquet_metadata": "SELECT * FROM parquet_metadata('landing/export.parquet')",
    "read_text of the environment": "SELECT content FROM read_text('/proc/self/environ')",
    "read_text of the environment, via query()": "SELECT * FROM query('SELECT content FROM read_text(''/proc/self/environ'')')",
    "read_blob of the published file": f"SELECT content FROM read_blob('{PUBLISHED}')",
    "EXPLAIN ANALYZE of a query reading a file": f"EXPLAIN ANALYZE SELECT * FROM read_csv('{EXPORT}')",
    # the network and extensions
    "httpfs URL": "SELECT * FROM read_csv('https://example.org/export.csv')",
    "s3 URL": "SELECT * FROM read_parquet('s3://bucket/export.parquet')",
    "INSTALL httpfs": "INSTALL httpfs",
    "FORCE INSTALL": "FORCE INSTALL httpfs",
    "LOAD httpfs": "LOAD httpfs",
    "LOAD a file": "LOAD 'landing/evil.duckdb_extension'",
    "UPDATE EXTENSIONS": "UPDATE EXTENSIONS",
    # writing files
    "COPY a table out": "COPY marts.patients TO 'out.csv'",
    "COPY over the published file": f"COPY marts.patients TO '{PUBLISHED}' (FORMAT csv)",
    "COPY an export into a new file": f"COPY (SELECT * FROM read_csv('{EXPORT}')) TO 'leak.csv'",
    "EXPORT DATABASE": "EXPORT DATABASE 'dump'",
    "IMPORT DATABASE": "IMPORT DATABASE 'dump'",
    "EXPLAIN ANALYZE COPY of the archive": "EXPLAIN ANALYZE COPY (SELECT * FROM read_csv('archive/**/*.csv')) TO 'leak.csv'",
    "EXPLAIN ANALYZE COPY over the published file": f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{PUBLISHED}' (FORMAT csv)",
    "EXPLAIN (FORMAT json) COPY": "EXPLAIN (FORMAT json) COPY marts.patients TO 'out.csv'",
    "EXPLAIN (ANALYZE) COPY": "EXPLAIN (ANALYZE) COPY marts.patients TO 'out.csv'",
    # settings, by every path
    "SET": "SET enable_external_access = true",
    "SET lock_configuration": "SET lock_configuration = false",
    "SET GLOBAL": "SET GLOBAL threads = 64",
    "SET SESSION": "SET SESSION memory_limit = '100GB'",
    "RESET": "RESET memory_limit",
    "USE": "USE memory",
    "PRAGMA assignment": "PRAGMA threads = 64",
    "PRAGMA enable_profiling": "PRAGMA enable_profiling",
    "PRAGMA profiling_output": "PRAGMA profiling_output = 'profile.json'",
    "EXPLAIN ANALYZE SET": "EXPLAIN ANALYZE SET enable_external_access = true",
    "a settings function called": "CALL enable_logging(storage = 'file', storage_path = 'log')",
    "a settings function in a SELECT": "SELECT * FROM enable_logging()",
    "SET inside query()": "SELECT * FROM query('SET enable_external_access = true')",
    # other databases
    "ATTACH a file": "ATTACH 'other.duckdb'",
    "ATTACH the published file writable": f"ATTACH '{PUBLISHED}' AS again",
    "ATTACH in memory": "ATTACH ':memory:' AS scratch",
    "DETACH": "DETACH warehouse",
    "CREATE SECRET": "CREATE SECRET leak (TYPE s3, KEY_ID 'a', SECRET 'b')",
    "CREATE PERSISTENT SECRET": "CREATE PERSISTENT SECRET leak (TYPE s3, KEY_ID 'a', SECRET 'b')",
    # writes, temporary objects, maintenance
    "DELETE": "DELETE FROM marts.patients",
    "DROP": "DROP TABLE marts.patients",
    "CREATE TEMP TABLE": "CREATE TEMP TABLE t AS SELECT * FROM marts.patients",
    "EXPLAIN ANALYZE CREATE TEMP TABLE": "EXPLAIN ANALYZE CREATE TEMP TABLE t AS SELECT * FROM marts.patients",
    "EXPLAIN ANALYZE CREATE TEMP MACRO": "EXPLAIN ANALYZE CREATE TEMP MACRO leak(p) AS p",
    "EXPLAIN ANALYZE CHECKPOINT": "EXPLAIN ANALYZE CHECKPOINT",
    "CHECKPOINT": "CHECKPOINT",
    "FORCE CHECKPOINT": "FORCE CHECKPOINT",
    "CALL checkpoint()": "CALL checkpoint()",
    "VACUUM": "VACUUM",
    "a writing CTE (passes the parser as a SELECT)": "WITH d AS (DELETE FROM marts.patients RETURNING *) SELECT * FROM d",
    "PREPARE": "PREPARE leak AS SELECT * FROM marts.patients",
    "BEGIN": "BEGIN TRANSACTION",
    # a write hidden after a query, comments and case
    "a write after a SELECT": "SELECT 1; COPY marts.patients TO 'out.csv'",
    "a write after a SELECT with a ';' in a string": "SELECT ';' AS s; DROP TABLE marts.patients",
    "an ATTACH and CREATE after a SELECT": "SELECT 1; ATTACH 'other.duckdb' AS o; CREATE TABLE o.p AS FROM marts.patients",
    "a comment saying SELECT": "/* SELECT */ CoPy marts.patients TO 'out.csv'",
    "a line comment before a DELETE": "-- SELECT * FROM marts.patients\ndElEtE FROM marts.patients",
    "a comment hiding the statement break": "sElEcT 1 /* ; */; dRoP TABLE marts.patients",
    "comments inside EXPLAIN ANALYZE": "eXpLaIn /* SELECT */ aNaLyZe -- SELECT\n COPY marts.patients TO 'out.csv'",
    "EXPLAIN ANALYZE after a non-ASCII comment": "/* µ/L ≥ 5 */ EXPLAIN ANALYZE /* é */ COPY marts.patients TO 'out.csv'",
    "EXPLAIN of a query, then a write": "EXPLAIN SELECT 1; COPY marts.patients TO 'out.csv'",
}


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_attack_is_refused_in_one_line(published, attack):
    with pytest.raises(ReadOnlyRefusal) as refusal:
        run_sql(published, attack, time_limit=30)
    message = str(refusal.value)
    assert message.startswith("refused: ") and "\n" not in message
    for identifier in (*NAMES, *MRNS, *BIRTH_DATES, KEY):
        assert identifier not in message


NOT_SQL = {
    "EXPLAIN ANALYZE ATTACH": "EXPLAIN ANALYZE ATTACH 'other.duckdb'",
    "EXPLAIN EXPLAIN": "EXPLAIN EXPLAIN COPY marts.patients TO 'out.csv'",
    "RESET ALL": "RESET ALL",
    "SET LOCAL": "SET LOCAL threads = 64",
}


@pytest.mark.parametrize("attack", NOT_SQL.values(), ids=NOT_SQL.keys())
def test_what_duckdb_cannot_parse_runs_nothing(published, attack):
    with pytest.raises(duckdb.Error, match="Parser Error|Not implemented Error"):
        run_sql(published, attack)


@pytest.mark.parametrize("query", ["SELECT * FROM checkpoint()", "SELECT * FROM force_checkpoint()"])
def test_maintenance_functions_in_a_query_leave_the_file_as_it_was(published, query):
    """They pass the filter (a SELECT); on a read-only database they do nothing or fail, and the
    fixture checks the published file is byte-identical."""
    try:
        run_sql(published, query)
    except duckdb.Error:
        pass


def test_the_key_in_the_environment_is_out_of_reach(published):
    with pytest.raises(ReadOnlyRefusal, match="refused: cartwh sql cannot read or write files"):
        run_sql(published, "SELECT content FROM read_text('/proc/self/environ')")
    with pytest.raises(duckdb.CatalogException):  # no getenv() in the library, so no other way to the variable
        run_sql(published, "SELECT getenv('CARTWH_PSEUDONYM_KEY')")


def test_python_variables_are_not_tables(published):
    identifiers = pd.DataFrame({"mrn": MRNS})  # what an unguarded connection would scan by its name
    con = open_published(published)
    try:
        with pytest.raises(duckdb.CatalogException, match="Table with name identifiers does not exist"):
            con.sql("SELECT mrn FROM identifiers")
    finally:
        con.close()
    assert len(identifiers) == 2


def test_a_pivot_without_its_values_is_refused_with_the_way_out(published):
    with pytest.raises(
        ReadOnlyRefusal, match=r"^refused: PIVOT without an IN list runs as several statements; name the values"
    ):
        run_sql(published, "PIVOT marts.patients ON bridging_group USING count(*)")


HONEST = {
    "SELECT": "SELECT bridging_group FROM marts.patients ORDER BY 1",
    "FROM first": "FROM marts.patients SELECT bridging_group ORDER BY 1",
    "WITH": "WITH p AS (SELECT * FROM marts.patients) SELECT bridging_group FROM p ORDER BY 1",
    "SHOW TABLES": "SHOW ALL TABLES",
    "DESCRIBE": "DESCRIBE marts.patients",
    "SUMMARIZE": "SUMMARIZE marts.patients",
    "PIVOT ... IN": "PIVOT marts.patients ON bridging_group IN ('inotuzumab', 'chemotherapy') USING count(*)",
    "EXPLAIN": "EXPLAIN SELECT * FROM marts.patients",
    "EXPLAIN ANALYZE": "EXPLAIN ANALYZE SELECT * FROM marts.patients",
    "EXPLAIN (FORMAT json)": "/* a plan */ EXPLAIN (FORMAT json) SELECT * FROM marts.patients",
    "settings read": "SELECT current_setting('enable_external_access') AS v",
}


@pytest.mark.parametrize("query", HONEST.values(), ids=HONEST.keys())
def test_honest_queries_still_answer(published, query):
    assert run_sql(published, query, "csv", time_limit=30)


def test_the_guards_are_on_and_locked(published, monkeypatch):
    monkeypatch.setenv("CARTWH_SQL_MEMORY", "300MB")
    monkeypatch.setenv("CARTWH_SQL_THREADS", "1")
    rows = json.loads(
        run_sql(
            published,
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
            "'lock_configuration', 'autoload_known_extensions', 'autoinstall_known_extensions', "
            "'threads', 'temp_directory') ORDER BY name",
            "json",
        )
    )
    assert {r["name"]: r["value"] for r in rows} == {
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "enable_external_access": "false",
        "lock_configuration": "true",
        "temp_directory": "",
        "threads": "1",
    }
    # disabled_filesystems is checked by what it does (duckdb_settings() shows it empty even when set)
    with pytest.raises(ReadOnlyRefusal, match="File system LocalFileSystem has been disabled by configuration"):
        run_sql(published, "SELECT content FROM read_text('/proc/self/environ')")
    limit = run_sql(published, "SELECT current_setting('memory_limit') AS m", "csv").splitlines()[1]
    assert limit == "286.1 MiB"  # DuckDB shows 300 MB (10^6 bytes) in MiB: 300e6 / 2^20


# --- limits -------------------------------------------------------------------------------


def test_a_bomb_query_stops_at_its_time_limit(published):
    # 10^15 rows: only the interrupt at the limit ends it (the worker's DuckDB stops it between vectors)
    with pytest.raises(
        QueryStopped, match=r"^stopped: the query ran longer than its time limit of 1 s \(CARTWH_SQL_TIMEOUT\) and was"
    ):
        run_sql(published, BOMB, time_limit=1)


def test_a_function_call_duckdb_cannot_interrupt_stops_near_its_limit(published):
    """One levenshtein call over 6,000-character strings takes a good fraction of a second and
    DuckDB checks for an interrupt only between vectors of 2,048 rows: the issue measured 457 s
    against a 10 s limit. The worker running it is ended instead, and the next statement answers."""
    levenshtein = "SELECT max(levenshtein(repeat('a', 6000) || i::varchar, repeat('b', 6000))) FROM range(2048) t(i)"
    with pytest.raises(
        QueryStopped, match=r"^stopped: the query ran longer than its time limit of 1 s .* did not stop"
    ):
        run_sql(published, levenshtein, time_limit=1)
    lines = iter([f"{levenshtein};", "SELECT 7 AS seven;", ".quit"])
    out = []
    shell(published, "csv", read=lambda prompt: next(lines), write=out.append, time_limit=1)
    assert "so its worker process was ended; the session is still usable" in out[1]
    assert out[2].splitlines() == ["seven", "7"]


def test_the_limits_come_from_the_settings(published, monkeypatch):
    monkeypatch.setenv("CARTWH_SQL_TIMEOUT", "0.5")
    with pytest.raises(QueryStopped, match="time limit of 0.5 s"):
        run_sql(published, BOMB)
    monkeypatch.setenv("CARTWH_SQL_TIMEOUT", "five minutes")
    with pytest.raises(ValueError, match="CARTWH_SQL_TIMEOUT='five minutes'"):
        run_sql(published, "SELECT 1")
    monkeypatch.setenv("CARTWH_SQL_TIMEOUT", "60")
    monkeypatch.setenv("CARTWH_SQL_MEMORY", "lots")
    with pytest.raises(ValueError, match="CARTWH_SQL_MEMORY='lots': Invalid Input Error: Memory must have a number"):
        run_sql(published, "SELECT 1")
    monkeypatch.setenv("CARTWH_SQL_MEMORY", "1GB")
    monkeypatch.setenv("CARTWH_SQL_THREADS", "all")
    with pytest.raises(ValueError, match="CARTWH_SQL_THREADS='all'"):
        run_sql(published, "SELECT 1")


def test_a_query_over_the_memory_limit_stops_without_spilling_to_disk(published, monkeypatch):
    monkeypatch.setenv("CARTWH_SQL_MEMORY", "100MB")
    sort = "SELECT count(*) FROM (SELECT md5(range::VARCHAR) AS m FROM range(20000000) ORDER BY m)"
    with pytest.raises(
        QueryStopped, match=r"^stopped: the query needs more than the memory limit of 100MB \(CARTWH_SQL_MEMORY\)"
    ) as stop:
        run_sql(published, sort, time_limit=30)
    assert "\n" not in str(stop.value)  # and the fixture checks no .tmp folder appeared beside the published copy


def test_the_shell_goes_on_after_a_stopped_refused_or_failed_statement(published):
    lines = iter(
        [
            f"{BOMB};",
            "SET lock_configuration = false;",
            "SELECT * FROM no_such_table;",
            "SELECT content FROM read_text('/proc/self/environ');",
            "SELECT count(*) AS n",
            "FROM marts.patients;",
            "SELECT current_setting('lock_configuration') AS locked;",
            ".shell cat /proc/self/environ;",
            ".quit",
        ]
    )
    out = []
    shell(published, "csv", read=lambda prompt: next(lines), write=out.append, time_limit=1)
    assert out[1].startswith("stopped: the query ran longer than its time limit of 1 s")
    assert out[2].startswith("refused: SET statement")
    assert out[3].startswith("Catalog Error: Table with name no_such_table does not exist")
    assert out[4].startswith("refused: cartwh sql cannot read or write files")
    assert out[5].splitlines() == ["n", "2"]
    assert out[6].splitlines() == ["locked", "True"]
    assert out[7].startswith("unknown command: .shell")  # the DuckDB shell's .shell is not a command here


# --- the command, in its own process with the key in its environment -----------------------


def _cartwh_sql(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CARTWH_PUBLISHED": str(site / PUBLISHED), "CARTWH_PSEUDONYM_KEY": KEY, **env}
    return subprocess.run(
        [str(Path(sys.executable).with_name("cartwh")), "sql", *args],
        cwd=site,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cartwh_sql_refuses_the_environment_in_one_line(published):
    result = _cartwh_sql(published.parent.parent, "SELECT content FROM read_text('/proc/self/environ')")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("refused: cartwh sql cannot read or write files") and result.stderr.count("\n") == 1
    assert KEY not in result.stderr


def test_one_huge_value_is_stopped_by_the_process_cap(published):
    """DuckDB's memory limit does not see a single 4 GB string being built; the cap on the
    `cartwh sql` process (2 x 100MB + 3 GiB) refuses the allocation at once."""
    started = time.monotonic()
    result = _cartwh_sql(
        published.parent.parent, "SELECT length(repeat('x', 4000000000)) AS n", CARTWH_SQL_MEMORY="100MB"
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("stopped: the query needs more than the memory limit of 100MB (CARTWH_SQL_MEMORY)")
    assert "bad allocation" in result.stderr and result.stderr.count("\n") == 1
    assert time.monotonic() - started < 30


def test_cartwh_sql_neither_imports_nor_reads_the_key(published, tmp_path):
    """With the key in the environment and a key file named, `cartwh sql` answers without importing
    the pseudonym code or opening the key file (Python's audit hook sees every open)."""
    key_file = tmp_path / "pseudonym.key"
    key_file.write_text(KEY)
    script = """
import json, sys
opened = []
sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" and "pseudonym" in str(args[0]) else None)
from cartwh.cli import main
code = main(["sql", "--format", "csv", "SELECT count(*) AS n FROM marts.patients"])
print(json.dumps({"code": code, "opened": opened, "modules": sorted(m for m in sys.modules if "pseudonym" in m or m.endswith(".keys"))}))
"""
    env = {
        **os.environ,
        "CARTWH_PUBLISHED": str(published),
        "CARTWH_PSEUDONYM_KEY": KEY,
        "CARTWH_PSEUDONYM_KEY_FILE": str(key_file),
    }
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    answer, report = result.stdout.strip().rsplit("\n", 1)
    assert answer.split() == ["n", "2"]
    assert json.loads(report) == {"code": 0, "opened": [], "modules": []}


def test_ctrl_c_interrupts_a_query_and_the_shell_goes_on(published):
    shell = subprocess.Popen(
        [str(Path(sys.executable).with_name("cartwh")), "sql", "--format", "csv"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=published.parent.parent,
        env={**os.environ, "CARTWH_PUBLISHED": str(published), "PYTHONUNBUFFERED": "1"},
    )
    try:
        shell.stdin.write(f"{BOMB};\n")
        shell.stdin.flush()
        assert shell.stdout.readline().startswith("cartwh sql on ")  # started; the bomb is read next
        time.sleep(1)
        shell.send_signal(signal.SIGINT)
        shell.stdin.write("SELECT 7 AS seven;\n.quit\n")
        output, _ = shell.communicate(timeout=20)
    finally:
        shell.kill()
    assert shell.returncode == 0
    assert "stopped: the query was interrupted (Ctrl-C); the session is still usable\n" in output
    assert "seven\n7\n" in output

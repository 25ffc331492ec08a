"""The whole-output identifier scan: after the main job ran on the demo landing with every fault
(a patient name in free text, an MRN in an FCS file name, a birth date in a quarantined value),
no file the run wrote outside landing/ and archive/ holds a name, MRN or birth date of the
landed REDCap export, in any common spelling: the working warehouse (as bytes and by querying
every text column of every table), the run's Dagster event log, dbt's target/ and logs/, Great
Expectations results and Data Docs, the reports and the run's log records.

The faults run is blocked by its checks, so it publishes nothing: the published copy scanned is
the clean demo run's (same cohort, same identifiers), scanned the same way. Both are the
session's runs (tests/conftest.py): this module adds no run of its own."""

from __future__ import annotations

import csv
import re
import unicodedata
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster._serdes import serialize_value

from tests.paths import ROOT

INPUTS = ("landing", "archive")  # the exports themselves: identifiers are expected there


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def spellings(name: str, mrn: str, born: str) -> tuple[set[str], set[str]]:
    """(texts matched case-insensitively, digit runs matched as whole numbers) of one patient:
    the name as typed, without accents and surname first; the MRN; the birth date in ISO,
    day-first and month-first with /, . and -, and as eight digits."""
    words = name.split()
    reordered = f"{words[-1]}, {' '.join(words[:-1])}"
    day = date.fromisoformat(born)
    texts = {
        name,
        _plain(name),
        reordered,
        _plain(reordered),
        born,
        f"{day:%d/%m/%Y}",
        f"{day:%m/%d/%Y}",
        f"{day:%d.%m.%Y}",
        f"{day:%d-%m-%Y}",
    }
    return {t.lower() for t in texts}, {mrn, f"{day:%Y%m%d}", f"{day:%d%m%Y}"}


def _landed_identifiers(root: Path) -> list[dict]:
    rows = []
    for export in sorted((root / "landing" / "redcap").glob("*.csv")):
        with open(export, newline="", encoding="utf-8") as handle:
            rows += [
                {c: r[c] for c in ("patient_name", "mrn", "birth_date")}
                for r in csv.DictReader(handle)
                if r["patient_name"]
            ]
    return rows


class Scanner:
    """One RE2 expression (DuckDB's regexp: linear time, so tens of megabytes take seconds) for
    every spelling of every landed identifier, applied to lower-cased text."""

    def __init__(self, rows: list[dict]):
        texts, numbers = set(), set()
        for r in rows:
            t, n = spellings(r["patient_name"], r["mrn"], r["birth_date"])
            texts |= t
            numbers |= n
        # RE2 has no look-behind: a digit run is bounded by a non-digit or an end.
        self.regex = "|".join(
            [re.escape(t) for t in sorted(texts)] + [f"(^|[^0-9]){n}([^0-9]|$)" for n in sorted(numbers)]
        )
        self.con = duckdb.connect()

    def hits(self, named: dict[str, str]) -> dict[str, list[str]]:
        """name -> what matched, for the texts that hold any spelling."""
        self.con.register("_texts", pd.DataFrame({"name": list(named), "text": list(named.values())}, dtype=object))
        found = self.con.execute(
            "SELECT name, list_distinct(regexp_extract_all(lower(text), ?)) FROM _texts "
            "WHERE regexp_matches(lower(text), ?)",
            [self.regex, self.regex],
        ).fetchall()
        self.con.unregister("_texts")
        return {name: sorted(matched)[:5] for name, matched in found}

    def sql_regex(self) -> str:
        return "(?i)" + self.regex


@pytest.fixture(scope="module")
def scan(faults_warehouse):
    root, result, summary, entries = faults_warehouse
    rows = _landed_identifiers(root)
    return root, result, summary, entries, rows, Scanner(rows)


@pytest.fixture(scope="module")
def demo_root(demo_warehouse, scan) -> Path:
    """The clean demo run's data folder: the same cohort as the faults run (the same identifiers)."""
    assert _landed_identifiers(demo_warehouse.parent) == scan[4]
    return demo_warehouse.parent


def _written_files(root: Path) -> list[Path]:
    """Every file of the run's data folder outside the exports (dbt's builds among them, in
    dbt_target/), and what dbt wrote to the project's target/ and logs/ (shared by the session's
    runs) since the run started."""
    since = min(p.stat().st_mtime for p in (root / "landing").rglob("*.csv")) - 1
    mine = [p for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] not in INPUTS]
    dbt = [
        p
        for folder in ("target", "logs")
        for p in (ROOT / "dbt_project" / folder).rglob("*")
        if p.is_file() and p.stat().st_mtime >= since
    ]
    return mine + dbt


def test_the_faults_run_planted_identifiers_and_the_scan_finds_them_in_the_exports(scan):
    _, _, summary, entries, rows, scanner = scan
    kinds = {f.kind for f in summary.faults}
    assert {"identifier_in_free_text", "identifier_in_file_name", "identifier_in_quarantined_value"} <= kinds
    assert len(rows) == 24 and entries
    # The scan finds what it must where identifiers are expected: the exports themselves.
    export = next((summary.landing / "redcap").glob("*.csv"))
    (matched,) = scanner.hits({"export": export.read_text(encoding="utf-8")}).values()
    assert matched
    planted = {f.file for f in summary.faults if f.kind.startswith("identifier_")}
    texts = {name: (summary.landing / name).read_text(encoding="utf-8") for name in planted}
    assert set(scanner.hits(texts)) == planted


@pytest.mark.parametrize("run", ["faults", "demo"])
def test_no_file_the_run_wrote_holds_an_identifier(scan, demo_root, run):
    root, scanner = (scan[0] if run == "faults" else demo_root), scan[5]
    files = _written_files(root)
    written = {p.relative_to(root).parts[0] for p in files if p.is_relative_to(root)}
    assert {"warehouse.duckdb", "quality", "reports"} <= written
    assert ("published" if run == "demo" else "run.log") in written
    assert "dbt_target" in written  # dbt's builds: compiled SQL, run_results.json, dbt.log
    texts = {str(p): p.read_bytes().decode("utf-8", errors="replace") for p in files}
    assert scanner.hits(texts) == {}


@pytest.mark.parametrize(
    "warehouse", ["faults/warehouse.duckdb", "demo/warehouse.duckdb", "demo/published/warehouse.duckdb"]
)
def test_no_text_column_of_a_warehouse_holds_an_identifier(scan, demo_root, warehouse):
    run, path = warehouse.split("/", 1)
    con = duckdb.connect(str((scan[0] if run == "faults" else demo_root) / path), read_only=True)
    try:
        columns = con.execute(
            """SELECT c.schema_name, c.table_name, c.column_name FROM duckdb_columns() c
               JOIN duckdb_tables() t USING (database_name, schema_name, table_name)
               WHERE c.data_type = 'VARCHAR' AND NOT c.internal"""
        ).fetchall()
        leaks = [
            (s, t, c)
            for s, t, c in columns
            if con.execute(
                f'SELECT count(*) FROM "{s}"."{t}" WHERE regexp_matches("{c}", ?)', [scan[5].sql_regex()]
            ).fetchone()[0]
        ]
    finally:
        con.close()
    assert len(columns) > 60  # raw, staging tables, marts, analytics, quality, ops: every text column
    assert leaks == []


def test_the_dagster_event_log_holds_no_identifier(scan):
    _, result, _, entries, _, scanner = scan
    serialised = [serialize_value(e) for e in entries] + [serialize_value(e) for e in result.all_events]
    assert len(serialised) > 50
    assert scanner.hits(dict(enumerate(serialised))) == {}


def test_quarantine_of_the_faults_run_keeps_no_value_of_a_planted_identifier(scan):
    root, _, summary, _, _, _ = scan
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute('SELECT file, "row", reason, value FROM raw.quarantine').fetchall()
    finally:
        con.close()
    planted = {(f.file, f.row) for f in summary.faults if f.kind.startswith("identifier_")}
    at = [r for r in rows if (r[0], r[1]) in planted]
    assert {(r[0], r[1]) for r in at} == planted
    assert all(r[3] is None for r in at) and all(
        any("holds the record's" in r[2] for r in at if (r[0], r[1]) == p) for p in planted
    )

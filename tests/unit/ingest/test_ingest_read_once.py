"""What is ingested is what was archived (cartwh/ingest/load.py, `read_once`): each landed file
is read once into a private copy, and its checksum, its rows and its archive copy all come from
those bytes, however the landing file is rewritten meanwhile."""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from pathlib import Path

import pytest

import cartwh.ingest.load as ingest
from tests.conftest import hmac_tube_key
from tests.unit.ingest.test_ingest_cytometry import LEUK_COUNT, STATS, CytometryWarehouse

SECRET = "read-once-test-secret"
HEADER = f"Sample,{LEUK_COUNT}\n"
ROW = re.compile(r"[A-Z]\d+-\d+\.fcs,\d+")  # a complete data row as the writer writes it


def tube_row(line: str) -> str:
    """A data row as raw keeps it: the FCS file name replaced by its tube key (tests/conftest.py)."""
    name, value = line.split(",")
    return f"{hmac_tube_key(SECRET, name, 'site7')},{value}"


def version_text(version: int, tag: str = "T") -> str:
    """Version v of file `tag`: 50 + 37 * (v % 9) tubes, each named after the file and v and
    counting v, so rows of two versions or two files never look alike."""
    return HEADER + "".join(f"{tag}{version}-{i}.fcs,{version}\n" for i in range(50 + 37 * (version % 9)))


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "site7")  # the statistics' site: their tube keys are per site
    return open_warehouse(CytometryWarehouse, SECRET)


def test_a_file_that_changes_while_read_is_left_for_the_next_run(wh, monkeypatch):
    path = wh.write(f"{STATS}/a.csv", version_text(1))
    identity, calls = ingest._identity, []

    def exporter_appends_after_the_first_look(candidate):
        seen = identity(candidate)
        if not calls:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write("T1-999.fcs,1\n")
        calls.append(candidate)
        return seen

    monkeypatch.setattr(ingest, "_identity", exporter_appends_after_the_first_look)
    report = wh.ingest()
    assert report.files_still_being_written == [f"{STATS}/a.csv"]
    assert report.files_loaded == [] and report.failures == []
    assert wh.rows("SELECT count(*) FROM raw.landed_files") == [(0,)]
    assert list(wh.archive.rglob("*.csv")) == []  # neither archived nor left as a private copy
    monkeypatch.setattr(ingest, "_identity", identity)
    report = wh.ingest()  # the next run, once the file has settled
    assert report.files_loaded == [f"{STATS}/a.csv"] and report.files_still_being_written == []
    assert wh.rows("SELECT count(*) FROM raw.cytometry_population_stats") == [(50 + 37 + 1,)]


def tag(name: str) -> str:
    return Path(name).stem[0].upper()


# The race runs until every file landed in more than VERSIONS_PER_FILE versions, in at most ROUNDS
# ingestions (each sees the exporter's latest version; the exporter writes several per ingestion).
VERSIONS_PER_FILE, ROUNDS = 3, 200


def test_race_ledger_archive_and_rows_always_agree(wh):
    """An exporter rewrites one file in place (truncating, in small chunks), overwrites another
    without truncating first (a sync tool), and a third is replaced by rename, as fast as it can,
    while ingestion runs again and again: until ingestion has taken every file in several
    versions (counted, not timed, so a loaded machine only makes it slower), at most ROUNDS times."""
    names = {
        "in_place": f"{STATS}/in_place.csv",
        "overwrite": f"{STATS}/overwrite.csv",
        "replaced": f"{STATS}/replaced.csv",
    }
    for name in names.values():
        wh.write(name, version_text(1, tag(name)))
    stop, final = threading.Event(), {}

    def exporter():
        version = 1
        while not stop.is_set():
            version += 1
            text = {kind: version_text(version, tag(name)).encode() for kind, name in names.items()}
            with open(wh.landing / names["in_place"], "wb") as handle:
                for start in range(0, len(text["in_place"]), 512):
                    handle.write(text["in_place"][start : start + 512])
                    handle.flush()
            with open(wh.landing / names["overwrite"], "r+b") as handle:
                handle.write(text["overwrite"])
                handle.truncate()
            temporary = wh.landing / "replaced.tmp"
            temporary.write_bytes(text["replaced"])
            os.replace(temporary, wh.landing / names["replaced"])
            final["version"] = version
            time.sleep(0.002)

    writer = threading.Thread(target=exporter)
    writer.start()
    reports = []
    try:
        for _ in range(ROUNDS):
            reports.append(wh.ingest(raise_on_failure=False))
            versions = wh.rows("SELECT min(n) FROM (SELECT count(*) AS n FROM raw.landed_files GROUP BY file)")
            if len(reports) >= 5 and versions[0][0] > VERSIONS_PER_FILE:
                break
    finally:
        stop.set()
        writer.join()
    reports.append(wh.ingest(raise_on_failure=False))  # quiet now: the last versions load

    ledger = wh.rows(
        "SELECT load_id, file, sha256, bytes, rows_loaded, archive_path, superseded_by "
        "FROM raw.landed_files ORDER BY load_id"
    )
    assert len(ledger) > VERSIONS_PER_FILE * len(names)  # versions were really replaced under ingestion
    for load_id, file, checksum, size, rows_loaded, archive_path, _ in ledger:
        archived = Path(archive_path).read_bytes()
        assert hashlib.sha256(archived).hexdigest() == checksum and len(archived) == size, file
        # Every row loaded is a row of the archived bytes, and every complete row of them loaded.
        expected = sorted(tube_row(line) for line in archived.decode().splitlines() if ROW.fullmatch(line))
        loaded = wh.rows(
            "SELECT tube_key || ',' || CAST(value AS BIGINT) FROM raw.cytometry_population_stats "
            "WHERE _load_id = ? ORDER BY 1",
            [load_id],
        )
        assert [r[0] for r in loaded] == expected, file
        assert rows_loaded == len(expected), file
        assert rows_loaded > 0 or not expected, file  # 0 rows only for bytes that held no complete row
    # After the race every file's current version is exactly what is in the landing folder.
    current = dict(wh.rows("SELECT file, sha256 FROM raw.landed_files WHERE superseded_by IS NULL"))
    for name in names.values():
        final_text = version_text(final["version"], tag(name))
        assert (wh.landing / name).read_text() == final_text
        assert current[name] == hashlib.sha256(final_text.encode()).hexdigest()
    assert not any(wh.archive.glob(".reading-*"))  # private copies are gone

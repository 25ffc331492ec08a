"""Batched ingestion (cartwh/ingest/load.py): files of a source that share a header are read
by one scan and validated together, yet every row, problem and count stays with its own file,
and a file that cannot be read fails alone while the rest of its batch loads."""

from __future__ import annotations

import pytest

import cartwh.ingest.load as ingest
from cartwh.ingest import csv_reader, cytometry_loader, redcap_loader
from cartwh.ingest.errors import IngestError
from tests.conftest import hmac_tube_key
from tests.unit.ingest.test_ingest_cytometry import LEUK_COUNT, MANIFEST_HEADER, MANIFESTS, STATS, CytometryWarehouse

SECRET = "batch-ingest-test-secret"


def tube(fcs_file: str) -> str:
    return hmac_tube_key(SECRET, fcs_file, "site7")  # CARTWH_SITE (fixture)


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "site7")
    return open_warehouse(CytometryWarehouse, SECRET)


@pytest.fixture
def scans(monkeypatch):
    """How many files each DuckDB scan of the run read."""
    seen = []
    read = csv_reader.read_rows

    def counting(con, files, *args, **kwargs):
        seen.append(len(files))
        return read(con, files, *args, **kwargs)

    for module in (cytometry_loader, redcap_loader):
        monkeypatch.setattr(module, "read_rows", counting)
    return seen


def test_one_scan_keeps_rows_problems_and_counts_per_file(wh, scans):
    wh.write(f"{STATS}/a.csv", f"Sample,{LEUK_COUNT}\nA.fcs,100\nA.fcs,100\nB.fcs,200\n")  # row 3 copies row 2
    wh.write(f"{STATS}/b.csv", f"Sample,{LEUK_COUNT}\nA.fcs,300\nC.fcs,-1\nD.fcs,400\n")  # same sample name, other file
    wh.write(f"{STATS}/c.csv", f"Sample,{LEUK_COUNT}\nE.fcs,500\n")
    report = wh.ingest()
    assert scans == [3]
    assert report.files_loaded == [f"{STATS}/a.csv", f"{STATS}/b.csv", f"{STATS}/c.csv"]
    assert report.rows_quarantined == 2 and report.rows == {"raw.cytometry_population_stats": 5}
    assert [r[:4] for r in wh.quarantine()] == [
        (f"{STATS}/a.csv", 3, None, "exact duplicate of row 2"),
        (f"{STATS}/b.csv", 3, LEUK_COUNT, "below the minimum 0.0"),
    ]
    loaded = wh.rows(
        "SELECT l.file, s.tube_key, s.value, s._source_row FROM raw.cytometry_population_stats s "
        "JOIN raw.landed_files l ON l.load_id = s._load_id ORDER BY l.file, s._source_row"
    )
    assert loaded == [
        (f"{STATS}/a.csv", tube("A.fcs"), 100.0, 2),
        (f"{STATS}/a.csv", tube("B.fcs"), 200.0, 4),
        (f"{STATS}/b.csv", tube("A.fcs"), 300.0, 2),
        (f"{STATS}/b.csv", tube("D.fcs"), 400.0, 4),
        (f"{STATS}/c.csv", tube("E.fcs"), 500.0, 2),
    ]
    ledger = wh.rows("SELECT file, rows_loaded, rows_quarantined FROM raw.landed_files ORDER BY load_id")
    assert ledger == [(f"{STATS}/a.csv", 2, 1), (f"{STATS}/b.csv", 2, 1), (f"{STATS}/c.csv", 1, 0)]


def test_malformed_rows_are_numbered_within_their_own_file(wh):
    wh.write(f"{STATS}/a.csv", f"Sample,{LEUK_COUNT}\nA.fcs,1,extra\nB.fcs,2\nC.fcs,3,extra\nD.fcs,4\n")
    wh.write(f"{STATS}/b.csv", f"Sample,{LEUK_COUNT}\nE.fcs,5\nF.fcs,6,extra\nG.fcs,7\n")
    wh.ingest()
    assert [r[:2] for r in wh.quarantine()] == [(f"{STATS}/a.csv", 2), (f"{STATS}/a.csv", 4), (f"{STATS}/b.csv", 3)]
    assert {(r[0], r[4]) for r in wh.stats()} == {
        (tube("B.fcs"), 3),
        (tube("D.fcs"), 5),
        (tube("E.fcs"), 2),
        (tube("G.fcs"), 4),
    }


def test_headers_split_batches_and_size_bounds_them(wh, scans, monkeypatch):
    for i in range(5):
        wh.write(f"{STATS}/one_{i}.csv", f"Sample,{LEUK_COUNT}\nA{i}.fcs,{i}\n")
    wh.write(f"{STATS}/two.csv", f"Sample,{LEUK_COUNT},Leukocytes/Lymphocytes | Count\nB.fcs,10,5\n")
    monkeypatch.setattr(ingest, "BATCH_BYTES", 80)  # two of the small files per batch
    wh.ingest()
    assert sorted(scans) == [1, 1, 2, 2]
    assert wh.rows("SELECT count(*), count(DISTINCT _load_id) FROM raw.cytometry_population_stats") == [(7, 6)]


def test_a_file_with_a_bad_header_fails_alone_and_each_failure_names_its_file(wh):
    good = "A.fcs,P1,peripheral blood,2024-01-02,D7,Lyric,CART-DETECT-v2,2024-01-02\n"
    wh.write(f"{MANIFESTS}/a.csv", MANIFEST_HEADER + good)
    wh.write(
        f"{MANIFESTS}/b_no_panel.csv",
        MANIFEST_HEADER.replace(",panel", "") + "B.fcs,P1,PB,2024-01-02,D7,Lyric,2024-01-02\n",
    )
    wh.write(
        f"{MANIFESTS}/c_no_panel.csv",
        MANIFEST_HEADER.replace(",panel", "") + "C.fcs,P1,PB,2024-01-02,D7,Lyric,2024-01-02\n",
    )
    wh.write(f"{MANIFESTS}/d.csv", MANIFEST_HEADER + good.replace("A.fcs", "D.fcs"))
    with pytest.raises(IngestError) as raised:
        wh.ingest("cytometry_manifest")
    assert [(f.file, f.column) for f in raised.value.failures] == [
        (f"{MANIFESTS}/b_no_panel.csv", "panel"),
        (f"{MANIFESTS}/c_no_panel.csv", "panel"),
    ]
    assert wh.rows("SELECT file FROM raw.landed_files ORDER BY file") == [
        (f"{MANIFESTS}/a.csv",),
        (f"{MANIFESTS}/d.csv",),
    ]
    assert set(wh.rows("SELECT tube_key FROM raw.cytometry_samples")) == {(tube("A.fcs"),), (tube("D.fcs"),)}


def test_a_file_gone_before_it_is_read_fails_alone(wh, monkeypatch):
    """Listed, then removed before it could be read: a clear failure; the other files load."""
    for name in ("a", "b", "c"):
        wh.write(f"{STATS}/{name}.csv", f"Sample,{LEUK_COUNT}\n{name}.fcs,1\n")
    read = ingest.read_once

    def b_vanishes_first(path):
        if path.name == "b.csv":
            path.unlink()
        return read(path)

    monkeypatch.setattr(ingest, "read_once", b_vanishes_first)
    with pytest.raises(IngestError) as raised:
        wh.ingest()
    assert [f.file for f in raised.value.failures] == [f"{STATS}/b.csv"]
    assert "cannot be read: No such file or directory" in str(raised.value)
    assert wh.rows("SELECT file FROM raw.landed_files ORDER BY load_id") == [(f"{STATS}/a.csv",), (f"{STATS}/c.csv",)]
    assert set(wh.rows("SELECT tube_key FROM raw.cytometry_population_stats")) == {(tube("a.fcs"),), (tube("c.fcs"),)}
    assert wh.rows("SELECT count(*) FROM raw.quarantine") == [(0,)]


def test_a_file_removed_after_it_was_read_loads_what_was_read(wh, monkeypatch):
    """Batches are read from the private copies, so the landing folder changing after the read
    changes nothing in this run."""
    for name in ("a", "b"):
        wh.write(f"{STATS}/{name}.csv", f"Sample,{LEUK_COUNT}\n{name}.fcs,1\n")
    group = ingest._batches

    def then_b_vanishes(files, *rest):
        (wh.landing / STATS / "b.csv").unlink()
        return group(files, *rest)

    monkeypatch.setattr(ingest, "_batches", then_b_vanishes)
    assert wh.ingest().failures == []
    assert wh.rows("SELECT tube_key FROM raw.cytometry_population_stats ORDER BY 1") == sorted(
        [(tube("a.fcs"),), (tube("b.fcs"),)]
    )

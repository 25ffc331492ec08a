"""What ingestion keeps of the records between runs (cartwh/ingest/known_records.py): a later night
matches a tube's name with its record's identifiers without reading the archive again, and a lost
store is read again from the archive, with the same outcome."""

from __future__ import annotations

import duckdb
import pytest

from cartwh.ingest import identifiers, known_records
from cartwh.warehouse.connection import connect
from tests.unit.ingest.test_identifiers_at_ingestion import ROW, IdentWarehouse
from tests.unit.ingest.test_ingest_cytometry import LEUK_COUNT, MANIFEST_HEADER, MANIFESTS, STATS
from tests.unit.ingest.test_ingest_redcap import SECRET, ZELDA_BASE


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "site_7")
    wh = open_warehouse(IdentWarehouse, SECRET)
    wh.export([ZELDA_BASE])
    wh.ingest("redcap")
    wh.write(f"{MANIFESTS}/m.csv", MANIFEST_HEADER + ROW.format("A1.fcs") + ROW.format("MRN5550123_D7.fcs"))
    wh.ingest("cytometry_manifest")
    wh.write(f"{STATS}/s.csv", f"Sample,{LEUK_COUNT}\nA1.fcs,100\nMRN5550123_D7.fcs,200\n")
    return wh


def _statistics_quarantine(wh) -> list[tuple]:
    return [q[1:4] for q in wh.quarantine() if q[0].startswith(STATS)]


def test_a_later_night_reads_the_store_not_the_archive(wh, monkeypatch):
    wh.con.close()
    wh.con = connect(wh.root / "w.duckdb")  # another night: a new process, nothing cached
    for read in ("archived_identifiers", "archived_tube_records"):
        monkeypatch.setattr(identifiers, read, lambda *a: pytest.fail("the archive was read again"))
    wh.ingest("cytometry_statistics")
    assert _statistics_quarantine(wh) == [(3, "Sample", "holds the record's MRN")]


def test_a_lost_store_is_read_again_from_the_archive(wh):
    (wh.archive / known_records.FILE).unlink()
    wh.ingest("cytometry_statistics")
    assert _statistics_quarantine(wh) == [(3, "Sample", "holds the record's MRN")]
    store = duckdb.connect(str(wh.archive / known_records.FILE), read_only=True)
    assert store.execute("SELECT source, count(*) FROM versions GROUP BY 1 ORDER BY 1").fetchall() == [
        ("cytometry_manifest", 1),
        ("redcap", 1),
    ]
    store.close()


def test_a_nights_tube_records_follow_its_current_manifests(wh):
    """One night, one connection: the tubes held in memory drop a superseded manifest's and gain
    its correction's, as a fresh read of the store gives them."""
    wh.ingest("cytometry_statistics")
    wh.write(f"{MANIFESTS}/m.csv", MANIFEST_HEADER + ROW.format("A1.fcs") + ROW.format("B2.fcs"))  # corrected
    wh.ingest("cytometry_manifest")
    wh.write(f"{STATS}/s2.csv", f"Sample,{LEUK_COUNT}\nB2.fcs,300\n")
    wh.ingest("cytometry_statistics")
    held = wh.rows("SELECT fcs_file FROM _tube_records ORDER BY 1")
    assert held == [("A1.fcs",), ("B2.fcs",)]
    wh.con.close()
    wh.con = connect(wh.root / "w.duckdb")  # the next night reads them from the store
    with known_records.attached(wh.con, wh.archive):
        identifiers.register_tube_records(wh.con)
    assert wh.rows("SELECT fcs_file FROM _tube_records ORDER BY 1") == held


@pytest.mark.parametrize("name", ["A0000001_T1.fcs", " Ñoño\u00a0D7.fcs\u3000", "x" * 300, "\t"])
def test_tube_keys_in_bulk_are_the_tube_key(name, monkeypatch):
    from cartwh.ingest.tubes import TUBE_KEYS, register_tube_keys, tube_key

    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", "k" * 80)  # longer than a block: hashed first
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 'site7' AS s, ? AS n", [name])
    register_tube_keys(con, "SELECT s, n FROM t")
    assert con.execute(f"SELECT tube_key FROM {TUBE_KEYS}").fetchall() == [(tube_key("site7", name),)]

"""The key is checked, not trusted (cartwh/ingest/keys.py `check_pseudonym_key`): the warehouse
keeps a fingerprint of the pseudonym key, and ingestion under another key stops before it writes
anything, saying what to do; `cartwh rebuild` re-keys. A whole run under another key:
tests/e2e/test_pseudonym_key_check.py."""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import pytest

from cartwh import cli
from cartwh.ingest.keys import PseudonymKeyMismatch
from cartwh.warehouse.rebuild import rebuild_raw
from tests.conftest import hmac_pseudonym
from tests.unit.ingest.test_ingest_sites import SiteWarehouse, base_row

KEY_A, KEY_B = "the-warehouse-key", "another-key"
MISMATCH = (
    "The pseudonym key differs from the one this warehouse was built with: ingesting under it would make "
    "every patient a new one, so nothing was ingested. If the key was rotated on purpose, run `cartwh rebuild`"
)


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.delenv("CARTWH_SITE", raising=False)
    warehouse = open_warehouse(SiteWarehouse, KEY_A)
    warehouse.export("huvr/a.csv", [base_row(str(i), "huvr", "2", "2024-03-01") for i in (1, 2)])
    warehouse.ingest()
    return warehouse


def snapshot(wh) -> dict:
    tables = [f"{s}.{t}" for s, t in wh.rows("SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL")]
    archive = sorted(
        (p.relative_to(wh.archive).as_posix(), p.read_bytes()) for p in wh.archive.rglob("*") if p.is_file()
    )
    return {"tables": {t: wh.rows(f"SELECT * FROM {t} ORDER BY ALL") for t in tables}, "archive": archive}


def test_the_fingerprint_is_stored_never_the_key(wh):
    expected = hmac.new(KEY_A.encode(), b"cartwh pseudonym key fingerprint v1", hashlib.sha256).hexdigest()
    assert [r[0] for r in wh.rows("SELECT fingerprint FROM raw.pseudonym_key")] == [expected]
    for table, rows in snapshot(wh)["tables"].items():
        assert KEY_A not in repr(rows), table


def test_another_key_stops_before_anything_is_written(wh, monkeypatch):
    before = snapshot(wh)
    wh.export("huvr/b.csv", [base_row("3", "huvr", "1", "2024-03-02")])
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", KEY_B)
    for source in ("redcap", "cytometry_manifest", "cytometry_statistics"):
        with pytest.raises(PseudonymKeyMismatch) as raised:
            wh.ingest(source)
        assert str(raised.value).startswith(MISMATCH)
        assert KEY_A not in str(raised.value) and KEY_B not in str(raised.value)
    assert snapshot(wh) == before


def test_the_same_key_ingests_on(wh):
    wh.export("huvr/b.csv", [base_row("3", "huvr", "1", "2024-03-02")])
    assert wh.ingest().files_loaded == ["redcap/huvr/b.csv"]
    assert wh.rows("SELECT count(*) FROM raw.redcap_demographics") == [(3,)]


def test_a_warehouse_from_before_the_fingerprint_asks_for_one_rebuild(wh):
    wh.con.execute("DROP TABLE raw.pseudonym_key")
    wh.export("huvr/b.csv", [base_row("3", "huvr", "1", "2024-03-02")])
    with pytest.raises(
        PseudonymKeyMismatch, match=r"built before its pseudonym key was recorded .* Run `cartwh rebuild` once"
    ):
        wh.ingest()
    assert wh.rows("SELECT count(*) FROM raw.landed_files") == [(1,)]


def test_rebuild_rekeys_every_patient_under_the_current_key(wh, monkeypatch):
    wh.con.close()
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", KEY_B)
    working = wh.root / "w.duckdb"
    assert rebuild_raw(working, working, wh.archive) == 1
    wh.con = duckdb.connect(str(working))
    assert wh.rows("SELECT patient_key FROM raw.redcap_demographics ORDER BY _source_row") == [
        (hmac_pseudonym(KEY_B, "1", "huvr"),),
        (hmac_pseudonym(KEY_B, "2", "huvr"),),
    ]
    expected = hmac.new(KEY_B.encode(), b"cartwh pseudonym key fingerprint v1", hashlib.sha256).hexdigest()
    assert wh.rows("SELECT fingerprint FROM raw.pseudonym_key") == [(expected,)]


def test_cartwh_ingest_under_another_key_says_so_in_one_message(wh, monkeypatch, capsys):
    wh.con.close()
    monkeypatch.setenv("CARTWH_DATA", str(wh.root))
    monkeypatch.setenv("CARTWH_WAREHOUSE", str(wh.root / "w.duckdb"))
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", KEY_B)
    assert cli.main(["ingest"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(MISMATCH) and "Traceback" not in err
    wh.con = duckdb.connect(str(wh.root / "w.duckdb"))


def test_ingestion_keys_patients_with_the_key_file(open_warehouse, monkeypatch, tmp_path):
    key_file = tmp_path / "pseudonym.key"
    key_file.write_text(KEY_B + "\n")
    key_file.chmod(0o600)
    wh = open_warehouse(SiteWarehouse, KEY_A)
    monkeypatch.delenv("CARTWH_PSEUDONYM_KEY")
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY_FILE", str(key_file))
    wh.export("huvr/a.csv", [base_row("1", "huvr", "2", "2024-03-01")])
    wh.ingest()
    assert wh.rows("SELECT patient_key FROM raw.redcap_demographics") == [(hmac_pseudonym(KEY_B, "1", "huvr"),)]

"""The incremental models int__cytometry_values (every current value of a tube) and
int__sample_populations (its pivot): a night reads only the tubes of file versions loaded or
superseded since the last build, and ends exactly where a full rebuild would (values worked out by
hand from the exports written here, and a full rebuild of a copy of the night's warehouse)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from cartwh.ingest.warehouse import connect
from tests.conftest import hmac_tube_key, run_dbt
from tests.unit.ingest.test_ingest_cytometry import STATS, CytometryWarehouse

CAR_T = "Leukocytes/Lymphocytes/CD3+/CD19-CAR+ | Absolute Count (cells/µL)"
B_CELLS = "Leukocytes/Lymphocytes/B cells (CD19+) | Absolute Count (cells/µL)"
HEADER = f"Sample,{CAR_T},{B_CELLS}\n"
SECRET = "incremental-test-secret"
MODELS = ("int__cytometry_values", "int__sample_populations")  # the incremental models, the pivot reads the values
PIVOT = "SELECT tube_key, exported_car_t_per_ul, exported_b_cells_per_ul FROM intermediate.int__sample_populations"
VALUES = """SELECT tube_key, gate_path, value, conflicting, deliveries, _load_id, chosen
    FROM intermediate.int__cytometry_values"""
NAMES = {hmac_tube_key(SECRET, f"{n}.fcs", "site7"): f"{n}.fcs" for n in "ABCDE"}


def read(con, sql: str) -> list[tuple]:
    """Rows with tube keys read back as the sample names the test wrote, in name order."""
    return sorted((NAMES[key], *rest) for key, *rest in con.execute(sql).fetchall())


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "site7")  # the statistics' site: their tube keys are per site
    return open_warehouse(CytometryWarehouse, SECRET)


def dbt(wh, tmp_path: Path, *args: str) -> None:
    wh.con.close()  # dbt is another process: one writer at a time
    done = run_dbt(wh.root / "w.duckdb", tmp_path, *args)
    assert done.returncode == 0, done.stdout[-3000:]
    wh.con = connect(wh.root / "w.duckdb")


def night(wh, tmp_path: Path) -> tuple[list[tuple], list[tuple]]:
    """The incremental models built as a night builds them: the pivot and the values."""
    dbt(wh, tmp_path, "run", "-s", *MODELS)
    return read(wh.con, PIVOT), read(wh.con, VALUES)


def rebuilt(wh, tmp_path: Path) -> tuple[list[tuple], list[tuple]]:
    """The same, rebuilt from the whole raw layer (--full-refresh) in a copy of the warehouse, so the
    nights go on incrementally in the original."""
    wh.con.close()
    copy = tmp_path / "full_refresh" / "w.duckdb"
    copy.parent.mkdir(exist_ok=True)
    shutil.copyfile(wh.root / "w.duckdb", copy)
    wh.con = connect(wh.root / "w.duckdb")
    done = run_dbt(copy, copy.parent, "run", "-s", *MODELS, "--full-refresh")
    assert done.returncode == 0, done.stdout[-3000:]
    with duckdb.connect(str(copy), read_only=True) as con:
        return read(con, PIVOT), read(con, VALUES)


def test_a_night_rebuilds_only_what_landed_and_matches_a_full_rebuild(wh, tmp_path):
    wh.write(f"{STATS}/1_old.csv", HEADER + "B.fcs,20,200\nC.fcs,30,300\n")
    # B in two current files that disagree: its values are set aside, never the later file's
    # (docs/definitions.md "Which cytometry values count")
    wh.write(f"{STATS}/2_new.csv", HEADER + "A.fcs,10,100\nB.fcs,21,201\n")
    wh.ingest()
    dbt(wh, tmp_path, "seed")  # the values read the population, statistics and route seeds
    pivot, values = night(wh, tmp_path)
    assert pivot == [("A.fcs", 10.0, 100.0), ("B.fcs", None, None), ("C.fcs", 30.0, 300.0)]
    loads = dict(wh.rows("SELECT file, load_id FROM raw.landed_files"))
    old, new = loads[f"{STATS}/1_old.csv"], loads[f"{STATS}/2_new.csv"]
    # B's two values, each delivered twice with two numbers: one row each (the smaller number),
    # conflicting, from the newest load
    assert {v[2:] for v in values if v[0] == "B.fcs"} == {(20.0, True, 2, new, True), (200.0, True, 2, new, True)}

    # The night: 2_new.csv is re-exported without B and with A corrected; a new file brings D.
    wh.write(f"{STATS}/2_new.csv", HEADER + "A.fcs,11,110\n")
    wh.write(f"{STATS}/3_more.csv", HEADER + "D.fcs,40,\n")
    wh.ingest()
    loads = dict(wh.rows("SELECT file, load_id FROM raw.landed_files WHERE superseded_by IS NULL"))
    pivot, values = night(wh, tmp_path)
    assert pivot == [("A.fcs", 11.0, 110.0), ("B.fcs", 20.0, 200.0), ("C.fcs", 30.0, 300.0), ("D.fcs", 40.0, None)]
    # B now comes from 1_old.csv alone, agreed; C was not touched: its rows still come from the first
    # night's load of 1_old.csv
    assert {v[2:] for v in values if v[0] == "B.fcs"} == {(20.0, False, 1, old, True), (200.0, False, 1, old, True)}
    assert wh.rows(
        "SELECT _load_id FROM intermediate.int__sample_populations WHERE tube_key = ?",
        [hmac_tube_key(SECRET, "C.fcs", "site7")],
    ) == [(old,)]
    assert {v[5] for v in values if v[0] == "C.fcs"} == {old}
    assert rebuilt(wh, tmp_path) == (pivot, values)

    # A version that drops a sample no other file holds: the sample goes, from both models.
    wh.write(f"{STATS}/3_more.csv", HEADER + "E.fcs,50,500\n")
    wh.ingest()
    pivot, values = night(wh, tmp_path)
    assert [r[0] for r in pivot] == ["A.fcs", "B.fcs", "C.fcs", "E.fcs"]
    assert sorted({v[0] for v in values}) == ["A.fcs", "B.fcs", "C.fcs", "E.fcs"]
    assert rebuilt(wh, tmp_path) == (pivot, values)

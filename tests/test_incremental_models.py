"""The incremental model int__sample_populations: a night re-pivots only the samples of file
versions loaded or superseded since the last build, and ends exactly where a full rebuild
would (values worked out by hand from the exports written here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cartwh.ingest.warehouse import connect
from tests.conftest import hmac_tube_key, run_dbt
from tests.test_ingest_cytometry import STATS, CytometryWarehouse

pytestmark = pytest.mark.e2e  # dbt runs in its own process, several times

CAR_T = "Leukocytes/Lymphocytes/CD3+/CD19-CAR+ | Absolute Count (cells/µL)"
B_CELLS = "Leukocytes/Lymphocytes/B cells (CD19+) | Absolute Count (cells/µL)"
HEADER = f"Sample,{CAR_T},{B_CELLS}\n"
SECRET = "incremental-test-secret"
PIVOT = "SELECT tube_key, exported_car_t_per_ul, exported_b_cells_per_ul FROM intermediate.int__sample_populations"


def pivot(wh) -> list[tuple]:
    """The pivot with tube keys read back as the sample names the test wrote, in name order."""
    names = {hmac_tube_key(SECRET, f"{n}.fcs", "site7"): f"{n}.fcs" for n in "ABCDE"}
    return sorted((names[key], *values) for key, *values in wh.rows(PIVOT))


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "site7")  # the statistics' site: their tube keys are per site
    return open_warehouse(CytometryWarehouse, SECRET)


def dbt(wh, tmp_path: Path, *args: str) -> None:
    wh.con.close()  # dbt is another process: one writer at a time
    done = run_dbt(wh.root / "w.duckdb", tmp_path, *args)
    assert done.returncode == 0, done.stdout[-3000:]
    wh.con = connect(wh.root / "w.duckdb")


def test_a_night_rebuilds_only_what_landed_and_matches_a_full_rebuild(wh, tmp_path):
    wh.write(f"{STATS}/1_old.csv", HEADER + "B.fcs,20,200\nC.fcs,30,300\n")
    # B in two current files that disagree: its values are set aside, never the later file's
    # (docs/definitions.md "Which cytometry values count")
    wh.write(f"{STATS}/2_new.csv", HEADER + "A.fcs,10,100\nB.fcs,21,201\n")
    wh.ingest()
    dbt(wh, tmp_path, "seed")  # the pivot reads the population, statistics and route seeds
    dbt(wh, tmp_path, "run", "-s", "int__sample_populations")
    assert pivot(wh) == [("A.fcs", 10.0, 100.0), ("B.fcs", None, None), ("C.fcs", 30.0, 300.0)]

    # The night: 2_new.csv is re-exported without B and with A corrected; a new file brings D.
    wh.write(f"{STATS}/2_new.csv", HEADER + "A.fcs,11,110\n")
    wh.write(f"{STATS}/3_more.csv", HEADER + "D.fcs,40,\n")
    wh.ingest()
    loads = dict(wh.rows("SELECT file, load_id FROM raw.landed_files WHERE superseded_by IS NULL"))
    dbt(wh, tmp_path, "run", "-s", "int__sample_populations")
    night = pivot(wh)
    assert night == [("A.fcs", 11.0, 110.0), ("B.fcs", 20.0, 200.0), ("C.fcs", 30.0, 300.0), ("D.fcs", 40.0, None)]
    # C was not touched: its row still comes from the first night's load of 1_old.csv
    assert wh.rows(
        "SELECT _load_id FROM intermediate.int__sample_populations WHERE tube_key = ?",
        [hmac_tube_key(SECRET, "C.fcs", "site7")],
    ) == [(loads[f"{STATS}/1_old.csv"],)]

    # A version that drops a sample no other file holds: the sample goes.
    wh.write(f"{STATS}/3_more.csv", HEADER + "E.fcs,50,500\n")
    wh.ingest()
    dbt(wh, tmp_path, "run", "-s", "int__sample_populations")
    incremental = pivot(wh)
    assert [r[0] for r in incremental] == ["A.fcs", "B.fcs", "C.fcs", "E.fcs"]
    dbt(wh, tmp_path, "run", "-s", "int__sample_populations", "--full-refresh")
    assert pivot(wh) == incremental

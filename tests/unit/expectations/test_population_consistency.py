"""The raw population-statistics suite (expectations/suites/raw_cytometry_populations.yml) on small
tables written by hand: each tube's negative counts, gates larger than their parent, and the
largest disagreement between a frequency of parent and 100 x count / parent count, worked out by
hand below. A tube of one wide row is compared within its row; a tube split over two tables and a
tube of a long table gate by gate; both must say the same."""

from __future__ import annotations

import pandas as pd
import pytest

from expectations.suites import all_suites
from tests.unit.ingest.test_ingest_cytometry import SECRET, STATS, CytometryWarehouse, tube

WIDE = (
    "Sample,Leukocytes | Count,Leukocytes/Lymphocytes | Count,Leukocytes/Lymphocytes | Freq. of Parent,"
    "Leukocytes/Lymphocytes/CD3+ | Count,Leukocytes/Lymphocytes/CD3+ | Freq. of Parent\n"
    "W1.fcs,1000,1200,100,60,5\n"  # lymphocytes above their parent, 100 % against 120; CD3+ 5 % against 5
    "W2.fcs,1000,250,20,50,20\n"  # lymphocytes 20 % against 25; CD3+ 20 % against 20
    "S1.fcs,2000,500,,,\n"  # its frequency comes in the other table
)
SPLIT = "Sample,Leukocytes/Lymphocytes | Freq. of Parent\nS1.fcs,30\n"  # against 100 x 500 / 2000 = 25
LONG = "File,Gate,Number,%Gated\nL1.fcs,Leukocytes,400,100.00\nL1.fcs,Leukocytes/Lymphocytes,100,20.00\n"


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "SITE7")
    wh = open_warehouse(CytometryWarehouse, SECRET)
    wh.write(f"{STATS}/SITE7/wide.csv", WIDE)
    wh.write(f"{STATS}/SITE7/split.csv", SPLIT)
    wh.write(f"{STATS}/SITE7/long.csv", LONG)
    report = wh.ingest("cytometry_statistics")
    assert report.rows_quarantined == 0 and len(report.files_loaded) == 3, wh.quarantine()
    return wh


def _checked(wh, select: str) -> list[tuple]:
    """`select` over the suite's rows (`checked`), every landed file version its batch."""
    (suite,) = [s for s in all_suites() if s.name == "raw_cytometry_populations"]
    wh.con.register("batch", pd.DataFrame({"load_id": [r[0] for r in wh.rows("SELECT load_id FROM raw.landed_files")]}))
    return wh.con.execute(f"WITH checked AS ({suite.sql}) {select}").fetchall()


def _per_tube(wh) -> dict[str, tuple]:
    rows = _checked(
        wh,
        "SELECT tube_key, sum(negative_counts), sum(larger_than_parent), max(max_freq_disagreement_pct) "
        "FROM checked GROUP BY 1",
    )
    return {key: tuple(values) for key, *values in rows}


def test_each_tube_compared_as_worked_out_by_hand(wh):
    assert _per_tube(wh) == {
        tube("W1.fcs"): (0, 1, pytest.approx(20.0, abs=1e-12)),
        tube("W2.fcs"): (0, 0, pytest.approx(5.0, abs=1e-12)),
        tube("S1.fcs"): (0, 0, pytest.approx(5.0, abs=1e-12)),  # across the two tables
        tube("L1.fcs"): (0, 0, pytest.approx(5.0, abs=1e-12)),  # row by row of the long table
    }


def test_a_tube_names_its_file_and_row(wh):
    rows = _checked(wh, "SELECT tube_key, file, source_row FROM checked ORDER BY 2, 3")
    assert (tube("W2.fcs"), f"{STATS}/SITE7/wide.csv", 3) in rows
    assert (tube("L1.fcs"), f"{STATS}/SITE7/long.csv", 2) in rows

"""The manifest's optional bead-counting columns (bead_lot, beads_per_tube, sample_volume_ul):
loaded when present, validated like the other columns (file, row and column on a bad value),
and absent from older manifests without an error."""

from __future__ import annotations

import pytest

from tests.unit.ingest.test_ingest_cytometry import MANIFEST_HEADER, SECRET, CytometryWarehouse, key, tube

MANIFESTS = "cytometry/manifests"
ROW = "{fcs},SITE7-0042,peripheral blood,2024-03-16,D7,BD FACSLyric,CART-DETECT-v2,2024-03-17"


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "SITE7")
    return open_warehouse(CytometryWarehouse, SECRET)


def _beads(wh) -> list[tuple]:
    return wh.rows(
        "SELECT tube_key, bead_lot, beads_per_tube, sample_volume_ul FROM raw.cytometry_samples ORDER BY _source_row"
    )


def test_bead_columns_loaded_and_validated(wh):
    name = f"{MANIFESTS}/b.csv"
    header = MANIFEST_HEADER.strip() + ",Bead_Lot,beads_per_tube,sample_volume_ul\n"
    wh.write(
        name,
        header
        + ROW.format(fcs="A1.fcs")
        + ",L-2041,51230,50\n"  # row 2
        + ROW.format(fcs="A2.fcs")
        + ",,,\n"  # 3: no beads in this tube (a dual-platform tube)
        + ROW.format(fcs="A3.fcs")
        + ",L-2041,fifty thousand,50\n"  # 4
        + ROW.format(fcs="A4.fcs")
        + ",L-2041,51230,0.05\n"  # 5: millilitres typed as microlitres
        + ROW.format(fcs="A5.fcs")
        + ",L-2041,512,50\n",
    )  # 6: beads per microlitre, not per tube
    report = wh.ingest("cytometry_manifest")
    assert [q[:4] for q in wh.quarantine()] == [
        (name, 4, "beads_per_tube", "not a number (with a decimal point)"),
        (name, 5, "sample_volume_ul", "below the minimum 10.0"),
        (name, 6, "beads_per_tube", "below the minimum 1000.0"),
    ]
    assert [q[5] for q in wh.quarantine()] == [key("SITE7-0042")] * 3
    assert report.rows_quarantined == 3
    assert _beads(wh) == [(tube("A1.fcs"), "L-2041", 51230.0, 50.0), (tube("A2.fcs"), None, None, None)]


def test_manifest_without_bead_columns_still_loads(wh):
    wh.write(f"{MANIFESTS}/b.csv", MANIFEST_HEADER + ROW.format(fcs="A1.fcs") + "\n")
    report = wh.ingest("cytometry_manifest")
    assert report.rows == {"raw.cytometry_samples": 1}
    assert _beads(wh) == [(tube("A1.fcs"), None, None, None)]


def test_manifest_with_only_a_bead_lot(wh):
    """beads_per_tube and the volume then come from the bead_lots seed (docs/data-contract.md)."""
    wh.write(f"{MANIFESTS}/b.csv", MANIFEST_HEADER.strip() + ",bead_lot\n" + ROW.format(fcs="A1.fcs") + ",L-2041\n")
    wh.ingest("cytometry_manifest")
    assert _beads(wh) == [(tube("A1.fcs"), "L-2041", None, None)]

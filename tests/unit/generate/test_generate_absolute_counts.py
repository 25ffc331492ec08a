"""The generator's counting beads and blood counts (cartwh/generate/absolute_counts.py): the bead
lots are the bead_lots seed's, bead events give back each tube's true leukocytes/uL, and the blood
count of a detection tube's day is that tube's true WBC and ALC."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd

from cartwh.contract.cytometry import ABSOLUTE, BEADS, PANELS
from cartwh.generate import absolute_counts, cytometry_export
from tests.paths import SEEDS

SEED = SEEDS / "bead_lots.csv"


def _tubes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "panel_kind": ["DETECT", "MEMORY", "LEUKAPHERESIS", "DETECT"],
            "events": [200_000, 150_000, 500_000, 300_000],
            "wbc": [4000.0, 250.0, 9000.0, 150.0],  # true leukocytes/uL
            "acquisition_date": pd.to_datetime(["2022-05-01", "2024-02-10", "2022-05-01", "2023-07-07"]),
        }
    )


def test_generator_bead_lots_are_the_seed():
    with SEED.open(newline="", encoding="utf-8") as handle:
        seed = {r["lot"]: (float(r["beads_per_tube"]), float(r["sample_volume_ul"])) for r in csv.DictReader(handle)}
    assert {lot: beads for lot, (beads, _) in seed.items()} == absolute_counts.BEAD_LOTS
    assert {volume for _, volume in seed.values()} == {absolute_counts.SAMPLE_VOLUMES_UL[0]}


def test_bead_events_give_back_the_true_concentration():
    s = absolute_counts.add_beads(_tubes())
    # By hand, tube 1: 200,000 leukocytes at 4,000/uL are 50 uL of blood acquired; at most 80 % of a
    # tube is acquired, so the tube holds 100 uL (50 / 0.8 = 62.5 -> the next protocol volume); its
    # lot TC2022 has 51,230 beads, of which 50 / 100 were acquired: 25,615 bead events.
    assert s.loc[0, ["bead_lot", "beads_per_tube", "sample_volume_ul"]].tolist() == ["TC2022", 51230.0, 100.0]
    assert s.loc[0, "bead_events"] == 25615
    counted = s[s["panel_kind"] != "LEUKAPHERESIS"]
    per_ul = counted["events"] / counted["bead_events"] * counted["beads_per_tube"] / counted["sample_volume_ul"]
    assert np.allclose(per_ul, counted["wbc"], rtol=0.5 / (counted["bead_events"] - 0.5))
    assert (counted["bead_events"] <= 0.8 * counted["beads_per_tube"] + 0.5).all()  # no more than 80 % of a tube
    assert s.loc[2, "bead_lot"] is None and np.isnan(s.loc[2, "bead_events"])


def test_flowjo_tables_have_beads_and_no_absolute_count():
    assert BEADS in PANELS["CART-DETECT-v2"] and BEADS not in PANELS["LEUKAPHERESIS-v1"]
    tubes = pd.DataFrame(
        {
            "fcs_file": ["A.fcs"],
            "panel_kind": ["DETECT"],
            "events": [200_000],
            "wbc": [4000.0],
            "lymph": [1200.0],
            "cd3": [900.0],
            "car": [40.0],
            "car_cd4_frac": [0.4],
            "carneg_cd8_frac": [0.3],
            "bcells": [0.5],
            "bead_events": [25615.0],
        }
    )
    exported = cytometry_export.statistics_table("CART-DETECT-v2", tubes)
    flowjo = cytometry_export.statistics_table("CART-DETECT-v2", tubes, exported_absolute=False)
    assert "Beads | Count" in flowjo.columns and flowjo.loc[0, "Beads | Count"] == 25615
    assert not [c for c in flowjo.columns if c.endswith(ABSOLUTE)]
    assert list(flowjo.columns) == [c for c in exported.columns if not c.endswith(ABSOLUTE)]


def test_blood_count_of_a_detection_day_is_the_tube_truth():
    samples = pd.DataFrame(
        {
            "record_id": ["1", "1"],
            "date": pd.to_datetime(["2024-01-07", "2024-01-07"]),
            "panel_kind": ["DETECT", "MEMORY"],
            "wbc": [3456.0, 9999.0],
            "lymph": [1234.0, 1.0],
        }
    )
    labs = pd.DataFrame({"record_id": ["1", "1"], "lab_date": pd.to_datetime(["2024-01-07", "2024-01-28"])})
    out = absolute_counts.add_blood_counts(labs, samples, np.random.default_rng(0))
    wbc = np.where(out["wbc_unit"] == "2", out["wbc_value"] / 1000, out["wbc_value"])
    alc = np.where(out["alc_unit"] == "2", out["alc_value"] / 1000, out["alc_value"])
    assert (wbc[0], alc[0]) == (3.46, 1.23)  # x10^9/L to the analyser's 0.01
    assert 0.3 <= wbc[1] <= 9.0 and 0 < alc[1] < wbc[1]

"""A registry laboratory without counting beads (every third site, cartwh/generate/absolute_counts.py):
no Beads gate and no bead lot in its exports, so its CAR-T/uL come from the dual-platform route
(docs/definitions.md "Absolute counts"): CAR-T events / leukocyte events x the same day's WBC.

The generator's rounding, by hand: the cytometer counts whole CAR-T events, round(true CAR-T/uL x
events / true WBC), off by at most 0.5 event, i.e. 0.5 x WBC / events cells/uL; the analyser's WBC
is written to 0.01 x10^9/L (10 cells/uL), off by at most 5 cells/uL, a relative 5 / WBC of the
value. So |dual platform - true| <= true x 5 / WBC + 0.5 x (WBC + 5) / events (+ 1e-9 of floats).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from cartwh.generate import generate_landing
from cartwh.warehouse.record_ids import read_record_map
from tests.conftest import ingest_and_build


@pytest.fixture(scope="module")
def registry(session_builds):
    """A 45-patient, 3-site registry, ingested and built up to car_t_kinetics once per session."""

    def build(root):
        summary = generate_landing(root / "landing", patients=45, sites=3, seed=3)
        ingest_and_build(root, "build", "-s", "+car_t_kinetics", "--resource-type", "model", "--resource-type", "seed")
        return summary

    root, summary = session_builds.build("dual-platform-registry", build)
    con = duckdb.connect(str(root / "w.duckdb"), read_only=True)
    yield root, summary, con
    con.close()


def _kinetics(root, con) -> pd.DataFrame:
    """Each detection tube's CAR-T/uL and route, with its site, record id and collection date."""
    rows = con.execute("""
        SELECT s.patient_key, s.collection_date, k.car_t_per_ul, k.car_t_per_ul_route
        FROM marts.car_t_kinetics AS k JOIN raw.cytometry_samples AS s USING (tube_key)
        WHERE s.panel LIKE 'CART-DETECT%'""").df()
    patients, _ = read_record_map(root / "archive")
    return rows.merge(patients, on="patient_key").assign(site=lambda r: r["site"].str.upper())


def test_the_site_without_beads_exports_no_bead_gate_or_lot(registry):
    root, _, _ = registry
    landing = root / "landing" / "cytometry"
    assert all("Beads" not in p.read_text(encoding="utf-8") for p in (landing / "statistics" / "S003").iterdir())
    assert all(
        "bead_lot" not in p.read_text(encoding="utf-8").splitlines()[0]
        for p in (landing / "manifests" / "S003").iterdir()
    )
    assert all("Beads" in p.read_text(encoding="utf-8") for p in (landing / "statistics" / "S001").glob("*DETECT*"))


def test_its_car_t_per_ul_is_dual_platform_and_the_true_value_within_the_rounding(registry):
    root, summary, con = registry
    kinetics = _kinetics(root, con)
    truth = summary.tubes[summary.tubes["panel_kind"] == "DETECT"].assign(
        collection_date=lambda t: pd.to_datetime(t["date"])
    )
    both = kinetics.merge(truth, on=["site", "record_id", "collection_date"], validate="one_to_one")
    assert len(both) == len(kinetics) and set(both["site"]) == {"S001", "S002", "S003"}
    # The kinetics start at study day 0: the one detection tube of each patient they leave out is the pre-LD one.
    assert len(truth) - len(kinetics) == summary.patients
    dual = both[both["site"] == "S003"]
    assert len(dual) > 100 and set(dual["car_t_per_ul_route"]) == {"dual_platform"}
    bound = dual["car"] * 5 / dual["wbc"] + 0.5 * (dual["wbc"] + 5) / dual["events"] + 1e-9
    assert (np.abs(dual["car_t_per_ul"] - dual["car"]) <= bound).all()
    assert (dual["car"] > 0).sum() > 50  # the bound is tested on real values, not only zeros
    # The other sites count beads, as before.
    assert set(both.loc[both["site"] != "S003", "car_t_per_ul_route"]) == {"beads"}

"""The demo written as FlowJo writes its tables (no absolute count column: FlowJo has no such
statistic), with counting beads, gives the same expansion, kinetics and BCA marts as the demo
with the laboratory's exported absolute counts (docs/definitions.md "Absolute counts").

Not bit for bit: the exported counts are written to 3 decimals (up to 0.0005 cells/uL off), and the
cytometer counts whole beads, so cells/uL from beads is off the true value by at most half a bead
in the tube's bead events N, a relative 0.5 / (N - 0.5). Per sample the two must agree within
0.0005 + value x 0.5 / (N - 0.5); in the per-patient marts within the largest such relative error
over the cohort's tubes (peak and AUC_14 are a maximum and a weighted sum of sample values) plus
0.005 cells/uL (AUC_14: 9 days x 0.0005, rounded up). Every date, flag, outcome and count is equal.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.conftest import ingest_and_build

MARTS = {"car_t_expansion": ["patient_key"], "car_t_kinetics": ["tube_key"], "bca_episodes": ["patient_key"]}
EXPORT_ROUNDING = 0.0005  # the demo laboratory writes cells/uL to 3 decimals


@pytest.fixture(scope="module")
def flowjo_warehouse(session_builds, generated) -> duckdb.DuckDBPyConnection:
    """The demo cohort's exports without absolute counts, ingested and built by dbt (models and seeds),
    once per session."""

    def build(root):
        generated(root / "landing", exported_absolute_counts=False)
        ingest_and_build(root, "build", "--resource-type", "model", "--resource-type", "seed")

    root, _ = session_builds.build("flowjo-demo", build)
    con = duckdb.connect(str(root / "w.duckdb"), read_only=True)
    yield con
    con.close()


def _mart(con, mart: str) -> pd.DataFrame:
    return con.sql(f"SELECT * FROM marts.{mart}").df().sort_values(MARTS[mart]).reset_index(drop=True)


def test_the_flowjo_demo_has_no_exported_count_and_uses_beads(flowjo_warehouse):
    assert flowjo_warehouse.execute(
        "SELECT count(*) FROM raw.cytometry_population_stats WHERE statistic LIKE 'Absolute Count%'"
    ).fetchall() == [(0,)]
    routes = flowjo_warehouse.execute(
        "SELECT DISTINCT car_t_per_ul_route, b_cells_per_ul_route FROM marts.car_t_kinetics"
    ).fetchall()
    assert routes == [("beads", "beads")]


def test_per_sample_counts_agree_within_the_rounding(flowjo_warehouse, demo_warehouse):
    con = flowjo_warehouse
    con.execute(f"ATTACH '{demo_warehouse}' AS demo (READ_ONLY)")
    try:
        rows = con.sql("""
            SELECT f.population, f.cells_per_ul AS beads, d.cells_per_ul AS exported, d.route, b.beads_events
            FROM intermediate.int__absolute_counts f
            JOIN demo.intermediate.int__absolute_counts d USING (tube_key, population)
            JOIN intermediate.int__bead_counting_tubes b USING (tube_key)""").df()
    finally:
        con.execute("DETACH demo")
    assert set(rows["route"]) == {"exported"} and len(rows) > 700
    bound = EXPORT_ROUNDING + rows["beads"] * 0.5 / (rows["beads_events"] - 0.5)
    assert ((rows["beads"] - rows["exported"]).abs() <= bound + 1e-9).all()


@pytest.mark.parametrize("mart", list(MARTS))
def test_marts_agree_with_the_exported_demo(flowjo_warehouse, demo_warehouse, mart):
    with duckdb.connect(str(demo_warehouse), read_only=True) as demo:
        exported = _mart(demo, mart)
    beads = _mart(flowjo_warehouse, mart)
    smallest = flowjo_warehouse.execute(
        "SELECT min(beads_events) FROM intermediate.int__bead_counting_tubes"
    ).fetchall()[0][0]
    relative = 0.5 / (smallest - 0.5)
    assert list(beads.columns) == list(exported.columns) and len(beads) == len(exported) > 0
    for column in exported.columns:
        if column.endswith("_route"):  # the one intended difference
            assert set(exported[column].dropna()) <= {"exported"} and set(beads[column].dropna()) <= {"beads"}
            assert (exported[column].isna() == beads[column].isna()).all(), column
        elif pd.api.types.is_float_dtype(exported[column]):
            assert np.allclose(beads[column], exported[column], rtol=relative, atol=0.005, equal_nan=True), column
        else:
            pd.testing.assert_series_equal(beads[column], exported[column], check_names=False, obj=column)

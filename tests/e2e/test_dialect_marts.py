"""The demo's cytometry marts do not depend on the dialect its lab writes: the session demo's
statistics re-exported as FlowJo's table editor writes them (unnamed first column, trailing
comma, '(%)' statistic names, Mean/SD rows, counts in E-notation) supersede the canonical files,
and the expansion, kinetics and BCA marts rebuilt from them are identical, row for row. The
FlowJo dialect imposes no rounding here (the generator's E-notation keeps every digit of a count,
tests/unit/generate/test_generate_lab_dialects.py), so the comparison is exact; a lab whose FlowJo rounds to
three figures would differ by that rounding, which assert_cytometry_statistics_precise_enough
reports."""

from __future__ import annotations

import pandas as pd

from cartwh.generate import lab_dialects
from cartwh.ingest.load import ingest_source
from cartwh.ingest.warehouse import connect
from tests.conftest import run_dbt

MARTS = ("marts.car_t_expansion", "marts.car_t_kinetics", "marts.bca_episodes")


def cytometry_marts(warehouse) -> dict[str, list[tuple]]:
    con = connect(warehouse, read_only=True)
    try:
        return {m: con.execute(f"SELECT * FROM {m} ORDER BY ALL").fetchall() for m in MARTS}
    finally:
        con.close()


def test_the_cytometry_marts_are_the_same_whichever_dialect_the_lab_writes(demo_copy, tmp_path):
    warehouse = demo_copy / "warehouse.duckdb"
    before = cytometry_marts(warehouse)
    assert all(len(rows) > 0 for rows in before.values())
    statistics = demo_copy / "landing" / "cytometry" / "statistics"
    files = sorted(statistics.rglob("*.csv"))
    for path in files:  # the same paths: the FlowJo files supersede the canonical ones
        path.write_bytes(lab_dialects.render(pd.read_csv(path, dtype=str, keep_default_na=False), "flowjo_csv"))
    con = connect(warehouse)
    try:
        report = ingest_source(con, demo_copy / "landing", "cytometry_statistics", demo_copy / "archive")
    finally:
        con.close()
    assert report.failures == [] and report.rows_quarantined == 0
    assert len(report.files_superseding) == len(files)
    done = run_dbt(warehouse, tmp_path, "run", "-s", "source:raw.cytometry_population_stats+")
    assert done.returncode == 0, done.stdout[-3000:]
    assert cytometry_marts(warehouse) == before

"""The data-quality page's verdict is computed from what actually blocked or failed (issue 28,
item 7): a night stopped by a blocking dbt test is not one whose marts "can be trusted" because
every Great Expectations check of an earlier step passed. On a copy of the session demo, the lab
sends the statistics of a tube its manifests never named (FlowJo's table editor shape): dbt's
blocking relationships test fails and stops the build, the night is recorded as blocked, and the
page written at its end says the marts cannot be trusted and names the test."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd

from cartwh.generate import lab_dialects
from cartwh.ingest.load import ingest_source
from cartwh.ingest.warehouse import connect
from cartwh.night.run_history import RunSummary, record_run
from cartwh.quality.dbt_tests import record_dbt_tests
from cartwh.quality.quality_report import write_quality_report
from tests.conftest import run_dbt

MONTH = "HUVR/2024-07_CART-DETECT-v2"


def test_a_night_a_blocking_dbt_test_stopped_is_not_trusted(demo_copy, tmp_path):
    landing, warehouse = demo_copy / "landing", demo_copy / "warehouse.duckdb"
    table = pd.read_csv(landing / "cytometry" / "statistics" / f"{MONTH}.csv", dtype=str, keep_default_na=False)
    stray = table.iloc[[0]].assign(Sample="A9999999_T1.fcs")  # a tube no manifest names
    (landing / "cytometry" / "statistics" / f"{MONTH}_late.csv").write_bytes(lab_dialects.render(stray, "flowjo_csv"))
    con = connect(warehouse)
    try:
        assert ingest_source(con, landing, "cytometry_statistics", demo_copy / "archive").failures == []
    finally:
        con.close()
    done = run_dbt(warehouse, tmp_path, "build")
    assert done.returncode != 0  # the relationships test is blocking: the build stops

    con = connect(warehouse)
    try:
        artifacts = [
            json.loads((tmp_path / "target" / name).read_text()) for name in ("run_results.json", "manifest.json")
        ]
        record_dbt_tests(con, "blocked-night", *artifacts)
        now = datetime.now()
        record_run(con, RunSummary("blocked-night", now, now, "blocked", message="dbt_models: dbt build failed"))
        page = write_quality_report(con, demo_copy / "reports", demo_copy / "quality").read_text(encoding="utf-8")
    finally:
        con.close()
    verdict = page[page.index('<div class="verdict') : page.index("</div>")]
    assert "The marts cannot be trusted" in verdict
    assert "dbt test relationships_int__sample_populations_tube_key" in verdict
    assert "the latest night was blocked: dbt_models: dbt build failed" in verdict
    assert "can be trusted." not in page and "All checks passed" not in page

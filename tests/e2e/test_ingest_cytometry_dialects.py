"""dbt's precision check on a lab dialect's numbers: the count FlowJo's table editor rounded to
three figures (tests/fixtures/cytometry/flowjo_table_editor.csv) is the one value flagged."""

from __future__ import annotations

import pytest

from tests.unit.ingest.test_ingest_cytometry import SECRET, CytometryWarehouse
from tests.unit.ingest.test_ingest_cytometry_dialects import land


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "SITE7")
    return open_warehouse(CytometryWarehouse, SECRET)


# end to end: dbt in its own process
def test_the_precision_check_flags_the_count_flowjo_rounded(wh, tmp_path):
    """flowjo_table_editor.csv writes 443,012 leukocytes as 4.43E+05 (3 figures of 6 digits): the one
    value flagged. 6.0E-02 % and 0.282 % are below 10 (fixed decimals, not checked); 30 and 50000
    events are integers written in full."""
    import json

    from cartwh.ingest.warehouse import connect
    from tests.conftest import run_dbt

    land(wh, "flowjo_table_editor.csv")
    wh.ingest()
    wh.con.close()
    seeded = run_dbt(wh.root / "w.duckdb", tmp_path, "seed")  # the current values read several seeds
    assert seeded.returncode == 0, seeded.stdout[-2000:]
    built = run_dbt(wh.root / "w.duckdb", tmp_path, "run", "-s", "int__cytometry_values")  # what the test reads
    assert built.returncode == 0, built.stdout[-2000:]
    done = run_dbt(wh.root / "w.duckdb", tmp_path, "test", "-s", "assert_cytometry_statistics_precise_enough")
    wh.con = connect(wh.root / "w.duckdb")
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    (result,) = [r for r in results if r["unique_id"].startswith("test.")]  # the project's hooks are results too
    assert done.returncode == 0 and result["status"] == "warn" and result["failures"] == 1

"""The `dbt_tests` checks of the demo's and the faults cohort's nights (cartwh/dbt/test_summaries.py)
must account for every test dbt ran, once per model, and name each test that did not pass."""

from __future__ import annotations

import json

import duckdb

from cartwh.dbt.manifest import MANIFEST as MANIFEST_FILE
from cartwh.dbt.test_summaries import CHECK


def _checks(run) -> dict[str, object]:
    evaluations = [e for e in run.get_asset_check_evaluations() if e.check_name == CHECK]
    by_model = {e.asset_key.path[-1]: e for e in evaluations}
    assert len(by_model) == len(evaluations)  # one per model
    return by_model


def _count(evaluation, name: str) -> int:
    return int(evaluation.metadata[name].value)


def test_the_demo_night_reports_every_test_dbt_ran_once_per_model(demo_run):
    _, run = demo_run
    manifest = json.loads(MANIFEST_FILE.read_text())
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    tested = {
        p.split(".")[-1]
        for t in tests
        for p in ([t["attached_node"]] if t.get("attached_node") else t["depends_on"]["nodes"])
    }
    checks = _checks(run)
    assert set(checks) == tested  # every tested model and seed, and nothing else
    assert all(e.passed for e in checks.values())
    # no result lost between dbt's log and Dagster: every test of every model ran and was counted
    assert sum(_count(e, "tests run") for e in checks.values()) == sum(
        _count(e, "tests in the project") for e in checks.values()
    )
    assert sum(_count(e, "tests in the project") for e in checks.values()) >= len(tests) > 250
    assert {n for e in checks.values() for n in e.metadata["tests"].value.split()} == {t["name"] for t in tests}


def test_a_test_that_did_not_pass_is_named_by_the_check_of_each_model_it_reads(faults_warehouse):
    root, run, _, _ = faults_warehouse
    checks = _checks(run)
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        listed = con.execute("SELECT test, models, severity FROM quality.dbt_test_results").fetchall()
    assert listed  # the faults cohort warns or fails some dbt tests
    for test, models, severity in listed:
        # the check of the model it is attached to (a relationship test also reads another), or of each it reads
        naming = [
            checks[m] for m in models.split(", ") if m in checks and test in checks[m].metadata["not passed"].value
        ]
        assert naming and all(not c.passed for c in naming)
        if severity == "blocking":
            assert all(c.severity.value == "ERROR" for c in naming)

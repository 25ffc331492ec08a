"""What `cartwh run` prints (cartwh/night/console.py), on events made here: each warning once, a
broken console never failing the run, a held lock naming the run that holds it, a stage with nothing
to do saying why; and what the Dagster UI shows of the code location (its name, the analytics
assets described from the analysis plan). The demo run's own lines: tests/e2e/test_console.py."""

import io
import re

import dagster as dg
import pytest
import yaml

from cartwh.night.console import StageConsole
from tests.paths import ROOT


def test_each_warning_once_and_dbt_noise_stays_in_the_log():
    out = io.StringIO()
    console = StageConsole({}, out)
    for _ in range(3):
        console.warn("figure 2 not drawn:   not estimable")
    console.warn("Dependencies for step study_statistics failed: ['dbt_models']. Not executing.")
    assert out.getvalue() == "  warning: figure 2 not drawn: not estimable\n"


def test_a_broken_console_never_fails_the_run():
    console = StageConsole({}, io.StringIO())
    console(None)  # what a bug in the display would raise inside a Dagster step: swallowed, logged
    assert console.broken
    console(None)


def test_the_code_location_has_a_readable_name():
    (location,) = yaml.safe_load((ROOT / "workspace.yaml").read_text())["load_from"]
    assert location["python_module"]["location_name"] == "cartwh"


def test_analytics_assets_are_described_from_the_analysis_plan():
    from assets.statistics import ANALYTICS_KEYS, study_statistics_asset
    from cartwh.study.config import load_plan

    plan = yaml.safe_load((ROOT / "analyses.yml").read_text())
    descriptions = {spec.key: spec.description for spec in study_statistics_asset().specs}
    assert load_plan(ROOT / "analyses.yml")  # the plan the descriptions are read from is valid
    survival = descriptions[ANALYTICS_KEYS["km_estimates"]]
    for entry in plan["survival"]:
        assert entry["title"] in survival  # every survival analysis by its title
    cox = descriptions[ANALYTICS_KEYS["cox_models"]]
    assert all(entry["name"] in cox for entry in plan["cox"])
    comparisons = descriptions[ANALYTICS_KEYS["group_comparisons"]]
    assert all(table["title"] in comparisons for table in plan["tables"])


def test_a_held_lock_names_the_run_holding_it_and_since_when(tmp_path, caplog):
    import json
    import os

    from cartwh.night.locking import WarehouseBusy, writer_lock
    from cartwh.night.run_marker import markers_folder

    warehouse = tmp_path / "warehouse.duckdb"
    markers_folder(warehouse).mkdir()
    marker = {
        "run_id": "4be1c0de-0000-4000-8000-000000000001",
        "started_at": "2026-12-01T02:00:03",
        "status": "running",
        "pid": os.getpid(),
    }
    (markers_folder(warehouse) / "a.json").write_text(json.dumps(marker))
    dead = dict(marker, run_id="deadbeef-0000", pid=2**22 + 1)  # a run killed long ago: not the holder
    (markers_folder(warehouse) / "b.json").write_text(json.dumps(dead))
    with writer_lock(warehouse), pytest.raises(WarehouseBusy) as busy, writer_lock(warehouse, wait_seconds=0.1):
        pass
    said = "(run 4be1c0de, running since 2026-12-01 02:00 UTC)"
    assert said in str(busy.value) and said in caplog.text and "deadbeef" not in caplog.text


def test_a_stage_that_had_nothing_to_do_says_why_and_one_that_worked_says_done(tmp_path):
    """The pull step alone, not configured, then a stage of it and a step that did work (the
    materialization without `skipped` metadata of a stand-in asset)."""
    from assets.pull import redcap_pull
    from assets.resources import LandingZone, RedcapPull

    @dg.asset
    def worked():
        return dg.MaterializeResult(metadata={"rows": 1})

    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [redcap_pull, worked],
            instance=instance,
            resources={
                "landing_zone": LandingZone(landing=str(tmp_path / "landing"), archive=str(tmp_path / "archive")),
                "redcap": RedcapPull(sites=[]),
            },
        )
        events = instance.all_logs(result.run_id)
    out = io.StringIO()
    console = StageConsole({redcap_pull.node_def.name: "pull", "worked": "ingest"}, out)
    for record in events:
        console(record)
    console.finish()
    lines = out.getvalue().splitlines()
    assert "  pull         not configured (CARTWH_REDCAP_SITES)" in lines
    assert sorted(line.split()[0] for line in lines) == ["ingest", "pull"]
    assert re.fullmatch(r"  ingest       done +\d+\.\d s   1 step", next(line for line in lines if "ingest" in line))


def test_a_step_stopped_by_an_interruption_says_interrupted_and_one_that_erred_says_failed():
    """Ctrl-C or SIGTERM reaches a step as Dagster's interruption error: its stage is interrupted, not
    FAILED (a step that raised an error of its own is)."""
    from dagster._core.errors import DagsterExecutionInterruptedError

    @dg.asset
    def stopped():
        raise DagsterExecutionInterruptedError("Execution was interrupted")

    @dg.asset
    def broken():
        raise ValueError("a column is missing")

    lines = {}
    for asset in (stopped, broken):
        with dg.DagsterInstance.ephemeral() as instance:
            result = dg.materialize([asset], instance=instance, raise_on_error=False)
            events = instance.all_logs(result.run_id)
        out = io.StringIO()
        console = StageConsole({asset.node_def.name: "ingest"}, out)
        for record in events:
            console(record)
        lines[asset.node_def.name] = out.getvalue().split()
    assert lines["stopped"][:2] == ["ingest", "interrupted"]
    assert lines["broken"][:2] == ["ingest", "FAILED"]

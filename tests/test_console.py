"""What `cartwh run` prints, and the Dagster instance it runs on (the one `make serve` shows).

The session's demo run went through `orchestration.run.run_main_job` on the persistent instance
of its data folder, as `cartwh run` does: its recorded events, fed to the console again, give
the stage lines `cartwh run` printed, and its result the summary."""

import io
import re
import stat
from pathlib import Path

import dagster as dg
import pytest
import yaml

from cartwh.night.console import STAGES, StageConsole

ROOT = Path(__file__).resolve().parent.parent
# `make run` prints the command and, on a first run, `cartwh run` the line saying the demo cohort
# was written: two lines besides the stage lines and the summary (which ends with the log's path).
HEADER_LINES = 2


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def demo_events(demo_run):
    root, result = demo_run
    with dg.DagsterInstance.from_config(str(root / "dagster_home")) as instance:
        return instance.all_logs(result.run_id)


def _replayed(events, out) -> str:
    from orchestration.run import dbt_node_count, stages

    console = StageConsole(stages(), out, dbt_nodes=dbt_node_count())
    for record in events:
        console(record)
    console.close()
    console.finish()
    return out.getvalue()


def test_the_demo_run_fits_on_one_screen_with_its_summary(demo_run, demo_events, monkeypatch):
    root, result = demo_run
    monkeypatch.setenv("CARTWH_DATA", str(root))
    monkeypatch.setenv("CARTWH_WAREHOUSE", str(root / "warehouse.duckdb"))
    from orchestration.run import dbt_node_count
    from orchestration.run_summary import console_summary

    stage_lines = _replayed(demo_events, io.StringIO()).splitlines()
    summary = console_summary(result, root / "logs" / "run-x.log")
    assert "\r" not in "".join(stage_lines)  # not a terminal: plain lines, no bar
    stages = [
        line.split()[0] + (" build" if line.split()[0] == "dbt" else "")
        for line in stage_lines
        if not line.startswith("  warning:")
    ]
    assert stages == list(STAGES)
    # No REDCap site is configured in the demo: the pull stage says so rather than "done 0.0 s".
    assert "  pull         not configured (CARTWH_REDCAP_SITES)" in stage_lines
    assert all(" done " in line for line in stage_lines if not line.startswith(("  warning:", "  pull ")))
    nodes = dbt_node_count()
    # The bar's total is what the dbt build reported: a materialization per model and seed, a
    # check evaluation per test (221 on the demo before other branches add models).
    reported = [
        r
        for r in demo_events
        if r.dagster_event
        and r.dagster_event.step_key == "dbt_models"
        and r.dagster_event.event_type
        in (dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    assert nodes == len(reported) > 200
    assert f"{nodes}/{nodes} builds and test results" in next(line for line in stage_lines if "dbt build" in line)
    assert HEADER_LINES + len(stage_lines) + len(summary) <= 45
    text = "\n".join(stage_lines + summary)
    assert re.search(r"^Data-quality checks: \d+ checks .* ran, 0 failed\.$", text, re.MULTILINE)
    for marker in (
        "Study report",
        "Analysts read the published copy",
        f"lists this run: {result.run_id[:8]}",
        "Log (dbt, Dagster, tracebacks)",
        "marts.time_to_event",
    ):
        assert marker in text
    for noise in ("AssetObservation", "START sql", " of 247 ", "dagster - INFO", "Traceback"):
        assert noise not in text


def test_the_dbt_bar_is_drawn_on_a_terminal_only(demo_events):
    drawn = _replayed(demo_events, Terminal())
    assert "\r" in drawn and "builds and test results" in drawn  # the bar, then its stage line over it
    assert "\r" not in _replayed(demo_events, io.StringIO())


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


def test_the_runs_of_cartwh_run_are_in_the_instance_the_ui_reads(demo_run):
    root, result = demo_run
    home = root / "dagster_home"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(result.run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS and run.job_name == "cartwh_main"
    assert (home / "dagster.yaml").read_text() == (ROOT / "orchestration" / "dagster.yaml").read_text()
    # The pipeline's account only, as under `make serve`: a closed folder closes what is inside
    # (`cartwh` also creates it all under umask 077; this in-process run has pytest's umask).
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_dagster_storage_holds_no_identifier(demo_run, demo_identifiers):
    root, _ = demo_run
    for path in (p for p in (root / "dagster_home").rglob("*") if p.is_file()):
        content = path.read_bytes()
        assert not [i for i in demo_identifiers if i.encode() in content], path.name


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


def test_a_step_no_stage_names_gets_a_line_of_its_own(demo_events):
    from orchestration.run import stages

    known = {key: stage for key, stage in stages().items() if key != "study_statistics"}  # as if it were new
    out = io.StringIO()
    console = StageConsole(known, out)
    for record in demo_events:
        console(record)
    console.finish()
    lines = out.getvalue().splitlines()
    assert any(line.split()[:2] == ["study_statistics", "done"] for line in lines)
    assert not any(line.split()[:1] == ["statistics"] for line in lines)  # no stage left without steps


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

"""What `cartwh run` prints, and the Dagster instance it runs on (the one `make serve` shows).

The session's demo run went through `orchestration.run.run_main_job` on the persistent instance
of its data folder, as `cartwh run` does: its recorded events, fed to the console again, give
the stage lines `cartwh run` printed, and its result the summary."""

import io
import json
import re
import stat

import dagster as dg
import pytest

from cartwh.dbt.manifest import MANIFEST
from cartwh.night.console import STAGES, StageConsole
from tests.paths import ROOT

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
    # The bar's total is what the dbt build reported: a materialization per model and seed, and
    # one check evaluation per tested model or seed for all its tests (cartwh/dbt/test_summaries.py).
    reported = [
        r
        for r in demo_events
        if r.dagster_event
        and r.dagster_event.step_key == "dbt_models"
        and r.dagster_event.event_type
        in (dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    models = [n for n in json.loads(MANIFEST.read_text())["nodes"].values() if n["resource_type"] in ("model", "seed")]
    assert nodes == len(reported) > len(models)
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

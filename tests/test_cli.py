"""The command line and the code location, as a user starts them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*args, env=None):
    return subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300
    )


def test_help_lists_every_subcommand():
    out = _run(str(BIN / "cartwh"), "--help")
    assert out.returncode == 0
    for command in ("generate", "ingest", "run", "status"):
        assert command in out.stdout


@pytest.mark.parametrize("command", ["generate", "ingest", "run", "status"])
def test_each_subcommand_has_help(command):
    out = _run(str(BIN / "cartwh"), command, "--help")
    assert out.returncode == 0 and "usage: cartwh " + command in out.stdout


def test_generate_with_faults_writes_the_fault_list(tmp_path):
    log = tmp_path / "faults.csv"
    out = _run(
        str(BIN / "cartwh"), "generate", "--landing", str(tmp_path / "landing"), "--faults", "--faults-log", str(log)
    )
    assert out.returncode == 0, out.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == "kind,file,row,column,detail,caught_by" and len(lines) == 17  # 16 faults, 4 of identifiers
    assert "identifier_in_file_name" in log.read_text() and "the record's MRN put before" in log.read_text()
    again = _run(str(BIN / "cartwh"), "generate", "--landing", str(tmp_path / "landing"))
    assert again.returncode == 1 and "--force" in again.stderr


@pytest.mark.e2e  # the CLI ingests a generated cohort in its own process
def test_ingest_and_status_without_dagster(tmp_path):
    env = {"CARTWH_DATA": str(tmp_path)}
    assert _run(str(BIN / "cartwh"), "generate", "--landing", str(tmp_path / "landing"), env=env).returncode == 0
    out = _run(str(BIN / "cartwh"), "ingest", env=env)
    assert out.returncode == 0, out.stderr
    assert "redcap: 1 file(s) loaded" in out.stdout
    # `cartwh status` shows the published copy: after an ingest alone there is none, and no run has finished
    status = _run(str(BIN / "cartwh"), "status", env=env)
    assert status.returncode == 1 and "Traceback" not in status.stderr
    assert status.stderr == (
        f"No published warehouse at {tmp_path / 'published' / 'warehouse.duckdb'} yet: no run has "
        f"finished; run `make run` first (or wait for the nightly run).\n"
    )


@pytest.mark.e2e  # Dagster loads the code location in its own process
def test_workspace_loads_in_dagster():
    out = _run(str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml")
    assert out.returncode == 0, out.stderr[-2000:]

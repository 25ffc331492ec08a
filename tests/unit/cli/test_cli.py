"""The command line as a user starts it: the help of every subcommand, and `cartwh generate`
writing its fault list. (Ingesting in processes of their own, and Dagster loading the code location:
tests/e2e/test_cli.py.)"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT

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

"""Imports run one way: orchestration -> assets -> cartwh / expectations (plain logic). Read from
the source (ast), so a lazy import inside a function counts as much as one at the top."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What each package must not import, and why nothing else is forbidden: orchestration may import all.
FORBIDDEN = {
    "cartwh": {"assets", "orchestration"},
    "expectations": {"assets", "orchestration"},
    "assets": {"orchestration"},
}
# The command line sits above the code location (`cartwh run` runs the main job, as `dagster` would):
# the one module of cartwh/ allowed to import orchestration.
ENTRY_POINTS = {"cartwh/cli/run.py"}


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {name.split(".")[0] for name in names}


def upward_imports() -> list[str]:
    found = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative not in ENTRY_POINTS:
                found += [f"{relative} imports {name}" for name in sorted(_imported(path) & forbidden)]
    return found


def test_no_module_imports_upward():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from orchestration.run import run_main_job\nimport assets.resources\n")
    assert _imported(module) == {"orchestration", "assets"}


@pytest.mark.e2e  # a fresh interpreter imports Dagster, dbt and the code location
def test_loading_the_definitions_parses_no_dbt_and_opens_no_warehouse(tmp_path):
    """Dagster imports the code location on every reload: it must only assemble. Checked in a
    fresh interpreter (this one has long imported everything). Nor does it export the warehouse's
    path into the environment: the dbt resource hands it to dbt's process."""
    probe = """
import json, os, sys, duckdb
opened = []
duckdb.connect = lambda *args, **kwargs: opened.append(args) or (_ for _ in ()).throw(AssertionError("opened"))
import orchestration.definitions
print(json.dumps({"opened": opened, "dbt_parsed": "dbt.parser.manifest" in sys.modules,
                  "exported": os.environ.get("CARTWH_WAREHOUSE")}))
"""
    manifest = ROOT / "dbt_project" / "target" / "manifest.json"
    before = manifest.stat().st_mtime_ns
    env = {**os.environ, "CARTWH_DATA": str(tmp_path / "data")}
    env.pop("CARTWH_WAREHOUSE", None)
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"opened": [], "dbt_parsed": False, "exported": None}
    assert manifest.stat().st_mtime_ns == before
    assert not (tmp_path / "data").exists()  # no warehouse, lock, archive or Dagster storage made

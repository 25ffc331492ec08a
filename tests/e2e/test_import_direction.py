"""Loading the code location in a fresh interpreter parses no dbt project and opens no warehouse
(the imports it runs are checked from the source in tests/unit/project/test_import_direction.py)."""

import json
import os
import subprocess
import sys

from tests.paths import ROOT


# end to end: a fresh interpreter imports Dagster, dbt and the code location
def test_loading_the_definitions_parses_no_dbt_and_opens_no_warehouse(tmp_path):
    """Dagster imports the code location on every reload: it must only assemble. Checked in a
    fresh interpreter (this one has long imported everything). Nor does it export the warehouse's
    path into the environment: the dbt resource hands it to dbt's process. Nor does it import the
    libraries of the statistics, the report, the checks or FCS gating: seconds of every start that
    only their steps need. (That dbt's parser was never imported is the proof no manifest was
    written: the file's own time would also change when another test parses the project meanwhile.)"""
    probe = """
import json, os, sys, duckdb
opened = []
duckdb.connect = lambda *args, **kwargs: opened.append(args) or (_ for _ in ()).throw(AssertionError("opened"))
import orchestration.definitions
heavy = ("lifelines", "scipy", "matplotlib", "great_expectations", "flowkit")
print(json.dumps({"opened": opened, "dbt_parsed": "dbt.parser.manifest" in sys.modules,
                  "exported": os.environ.get("CARTWH_WAREHOUSE"), "imported": [m for m in heavy if m in sys.modules]}))
"""
    env = {**os.environ, "CARTWH_DATA": str(tmp_path / "data")}
    env.pop("CARTWH_WAREHOUSE", None)
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "opened": [],
        "dbt_parsed": False,
        "exported": None,
        "imported": [],
    }
    assert not (tmp_path / "data").exists()  # no warehouse, lock, archive or Dagster storage made

"""dbt's target folder does not grow a build folder per run (issue 28, item 12): after a build the
newest three build folders stay, the project's own files are never touched."""

from __future__ import annotations

import os
from pathlib import Path

from cartwh.dbt.target import KEEP, prune_build_folders
from cartwh.settings import PROJECT_ROOT


def test_only_the_newest_build_folders_stay(tmp_path):
    target = tmp_path / "target"
    builds = [target / f"dbt_models-{n:07x}-abcdef{n}" for n in range(6)]  # oldest first
    for age, build in enumerate(reversed(builds)):
        (build / "logs").mkdir(parents=True)
        (build / "run_results.json").write_text("{}")
        os.utime(build, (1_700_000_000 - age * 86_400,) * 2)
    for own in ("manifest.json", "static_index.html"):
        (target / own).write_text("{}")
    (target / "compiled").mkdir()  # dbt's own folders, not a build's
    removed = prune_build_folders(target)
    assert sorted(removed) == builds[: 6 - KEEP]
    assert sorted(p.name for p in target.iterdir()) == sorted(
        ["compiled", "manifest.json", "static_index.html", *(b.name for b in builds[6 - KEEP :])]
    )


def test_the_runs_leave_at_most_the_newest_builds_in_the_projects_target(demo_run):
    builds = [p for p in Path(PROJECT_ROOT / "dbt_project" / "target").iterdir() if p.name.startswith("dbt_models-")]
    assert len(builds) <= KEEP + 1  # a build of another test process may be under way

"""dbt's target folder of the nights (in the data folder, cartwh/dbt/target.py) does not grow a
build folder per run (issue 28, item 12): after a build the newest three build folders stay, other
files are never touched, and a data folder's first night starts from the project's parse, never
overwriting its own. A night's build there: tests/e2e/test_dbt_target.py."""

from __future__ import annotations

import os

from cartwh.dbt.target import KEEP, PARSE, keep_parse, prune_build_folders, start_from_project_parse


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


def test_a_first_night_starts_from_the_project_parse_and_never_overwrites_its_own(tmp_path):
    project, data = tmp_path / "project_target", tmp_path / "data" / "dbt_target"
    project.mkdir()
    (project / PARSE).write_bytes(b"make install's")
    start_from_project_parse(project, data)
    assert (data / PARSE).read_bytes() == b"make install's"
    (data / PARSE).write_bytes(b"last night's")
    start_from_project_parse(project, data)
    assert (data / PARSE).read_bytes() == b"last night's"
    build = data / "dbt_models-0000001-abcdef1"
    build.mkdir()
    (build / PARSE).write_bytes(b"tonight's")
    keep_parse(build)
    assert (data / PARSE).read_bytes() == b"tonight's" and (project / PARSE).read_bytes() == b"make install's"

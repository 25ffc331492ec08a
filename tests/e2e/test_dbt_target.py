"""dbt's target folder of a night (issue 28, item 12): a night builds in its data folder and keeps
its parse there for the next."""

from __future__ import annotations

from cartwh.dbt.target import PARSE


def test_a_night_builds_in_its_data_folder_and_keeps_its_parse_there(demo_run):
    root, _ = demo_run
    builds = [p for p in (root / "dbt_target").iterdir() if p.name.startswith("dbt_models-")]
    assert len(builds) == 1 and (builds[0] / "run_results.json").exists()
    assert (root / "dbt_target" / PARSE).exists()  # the next night starts from it

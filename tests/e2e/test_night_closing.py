"""How every night ends (cartwh.night.closing): the demo's run says in its log that it closed after
publishing, and wrote both data-quality pages."""

from __future__ import annotations

import dagster as dg


def test_the_demo_night_closed_after_publishing_and_wrote_both_pages(demo_run):
    root, run = demo_run
    with dg.DagsterInstance.from_config(str(root / "dagster_home")) as instance:
        messages = [record.user_message for record in instance.all_logs(run.run_id)]
    closing = [m for m in messages if m.startswith("night closed:")]
    assert closing == [
        "night closed: recorded by its own publishing step; data-quality pages written: "
        "data_quality.html, data_manager.html"
    ]
    assert (root / "reports" / "data_quality.html").exists() and (root / "data_manager" / "data_manager.html").exists()

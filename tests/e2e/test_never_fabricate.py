"""Everything built from the demo says so (issue 22, defect 1; cartwh/synthetic.py): the session's
demo run's study report, data-quality page and data manager's report, and its published copy."""

from __future__ import annotations

import duckdb

from cartwh.synthetic import BANNER


def test_everything_built_from_the_demo_says_so(demo_run):
    root, _ = demo_run
    for page in (root / "reports" / "study_report.html", root / "reports" / "data_quality.html"):
        assert "SYNTHETIC DATA" in page.read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in (root / "data_manager" / "data_manager.html").read_text(encoding="utf-8")
    published = duckdb.connect(str(root / "published" / "warehouse.duckdb"), read_only=True)
    try:
        synthetic, note = published.execute("SELECT synthetic, note FROM ops.data_origin").fetchall()[0]
    finally:
        published.close()
    assert synthetic and note.startswith(BANNER)

"""A night with no canonical patient completes (issue 22, defect 6): a programme whose sites have
landed their own REDCap projects, none mapped yet, builds empty marts, renders the study report
with "no patient mapped yet" in every section, publishes, and the data-quality pages name the site
that needs a mapping and what its mapping must cover. The site is REDCapR's genuine longitudinal
project (../shared/real-exports)."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.contract.site_mapping import must_cover
from tests.unit.ingest.test_redcap_projects import REAL

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real-exports is not beside the clone")


def _site_only(landing):
    site = landing / "redcap" / "site_a"
    site.mkdir(parents=True)
    for name in ("data.csv", "dictionary.csv", "event.csv", "arm.csv", "project.xml"):
        shutil.copy(REAL / "longitudinal" / name, site / name)


def test_a_night_of_unmapped_sites_publishes_and_says_what_is_missing(main_job, tmp_path, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "site_a")
    result, _ = main_job(tmp_path, prepare=_site_only, generate=False)
    assert result.success
    published = duckdb.connect(str(tmp_path / "published" / "warehouse.duckdb"), read_only=True)
    try:
        assert published.execute("SELECT count(*) FROM marts.patients").fetchall() == [(0,)]
        assert published.execute("SELECT synthetic FROM ops.data_origin").fetchall() == [(False,)]
    finally:
        published.close()
    report = (tmp_path / "reports" / "study_report.html").read_text(encoding="utf-8")
    sections = report.count("<h2")
    assert report.count("no patient mapped yet") >= sections - 2  # all but data quality and methods
    assert "site site_a" in report and "SYNTHETIC" not in report
    for page in (tmp_path / "reports" / "data_quality.html", tmp_path / "data_manager" / "data_manager.html"):
        text = page.read_text(encoding="utf-8")
        assert "Sites awaiting their mapping (1)" in text and "<td>site_a</td>" in text
        for form, fields in must_cover(project_dictionary()):
            assert f"<li><b>{form}</b>: {', '.join(fields)}</li>" in text

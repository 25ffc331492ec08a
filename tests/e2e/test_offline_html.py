"""Every HTML output opens offline, as a file: the study report, the data-quality report, the Data
Docs index and a validation page, and the dbt docs (one static file) are loaded in headless
Chromium from file:// URLs with the network off. Each must draw its content (tables, figures,
the text it exists to show) and ask for nothing but local files: not one request to any host,
not one failed load, no script error. The pages come from the session's demo run; a screenshot
of each is written beside the test's files.

Without Chromium the tests skip locally with the reason; in CI (CI set) they fail instead,
because .ci/run installs Chromium.
"""

import os
import re
import shutil

import duckdb
import pytest

from cartwh.quality.data_docs import write_data_docs
from cartwh.report.pdf import find_chromium
from expectations.results import check_suite
from expectations.suites import all_suites
from tests.conftest import run_dbt
from tests.offline_browser import Chromium

# Two slips in dbt-docs' own page, both local file:// URLs made of unfilled template text, never a
# network request: its Angular templates write `<img src="{{ getIcon(...) }}">` (refused before
# Angular fills it in; the icons then draw from data: URLs) and its favicon link is a webpack
# `${require(...)}` never built (the browser tab has no icon). Only those are tolerated.
_DBT_TEMPLATE_ARTEFACT = re.compile(r"^file://[^ ]*%7B[^ ]*%7D: ")


@pytest.fixture(scope="module")
def chromium():
    executable = find_chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI: .ci/run installs the Debian package 'chromium'")
        pytest.skip("Chromium is not installed (apt-get install chromium); the offline browser test needs it")
    browser = Chromium(executable)
    yield browser
    browser.close()


def _offline(page, tolerated=None):
    """Nothing but local files requested, nothing failed, no script error."""
    assert page.external == [], page.external
    failed = [f for f in page.failed if not (tolerated and tolerated.match(f))]
    assert failed == [], failed
    errors = [e for e in page.errors if not (tolerated and "%7B" in e)]
    assert errors == [], errors
    assert page.broken_images == [], page.broken_images


def test_study_report_opens_offline(chromium, demo_warehouse, tmp_path):
    page = chromium.load(
        # the page's last words: "Methods" is in the navigation, read before the figures have loaded
        demo_warehouse.parent / "reports" / "study_report.html",
        "query it with DuckDB or pandas",
        screenshot=tmp_path / "study_report.png",
    )
    _offline(page)
    for heading in (
        "Table 1. Patient characteristics",
        "Table 2.",
        "Table 3.",
        "Figure 1.",
        "Figure 5.",
        "Hazard ratios",
        "Methods",
    ):
        assert heading in page.text, heading
    assert page.counts["table"] >= 6 and page.counts["svg"] + page.counts["img"] >= 5, page.counts
    assert (tmp_path / "study_report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_data_quality_report_opens_offline(chromium, demo_warehouse, tmp_path):
    reports = demo_warehouse.parent / "reports"
    page = chromium.load(reports / "data_quality.html", "Last nights", screenshot=tmp_path / "data_quality.png")
    _offline(page)
    assert "All checks passed" in page.text and "Checks of the latest run" in page.text
    assert page.counts["table"] >= 1
    linked = re.search(
        r'href="([^"]*index\.html)">Great Expectations Data Docs', (reports / "data_quality.html").read_text()
    )
    assert (reports / linked.group(1)).resolve() == (demo_warehouse.parent / "quality" / "data_docs" / "index.html")


def test_data_managers_report_opens_offline(chromium, faults_warehouse, tmp_path):
    """The faults run's restricted report: every root cause with what to do, tables drawn."""
    report = faults_warehouse[0] / "data_manager" / "data_manager.html"
    page = chromium.load(report, "Open issues by root cause", screenshot=tmp_path / "data_manager.png")
    _offline(page)
    assert "Since the previous night" in page.text and "What to do:" in page.text and "X-999999" in page.text
    assert page.counts["table"] >= 3


def test_data_docs_index_opens_offline_and_lists_every_suite(chromium, demo_warehouse, tmp_path):
    index = demo_warehouse.parent / "quality" / "data_docs" / "index.html"
    page = chromium.load(index, "All validations", screenshot=tmp_path / "data_docs_index.png")
    _offline(page)
    assert page.counts["table"] == 2
    for suite in all_suites():
        assert suite.name in page.text, suite.name
    assert 'class="failed"' not in index.read_text(encoding="utf-8")  # the clean demo: every validation passed
    # and GX's own site, which pulls its CSS/JS from CDNs and the vendor's logo, is not there
    assert not (demo_warehouse.parent / "quality" / "gx" / "uncommitted" / "data_docs").exists()


def test_a_failed_validation_page_opens_offline_and_shows_the_failure(chromium, demo_warehouse, tmp_path):
    """A systematic unit error (CRP ten times too high, as a site sending mg/L labelled mg/dL)
    fails marts_patients' blocking median check; its page shows which, why and the values."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_warehouse, warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("UPDATE marts.patients SET pre_ld_crp_mg_dl = pre_ld_crp_mg_dl * 10")
        suite = {s.name: s for s in all_suites()}["marts_patients"]
        assert check_suite(con, suite, tmp_path / "quality", run_id="unit-error").blocking_failed
    finally:
        con.close()
    index = write_data_docs(tmp_path / "quality")
    (validation,) = index.parent.glob("validations/marts_patients/unit-error-marts_patients/*.html")

    page = chromium.load(validation, "Expectations", screenshot=tmp_path / "failed_validation.png")
    _offline(page)
    assert "Suite marts_patients:" in page.text and "blocking" in page.text
    assert re.search(r"\d+ of \d+ expectations failed \(\d+ blocking\)", page.text)
    assert "expect_column_median_to_be_between" in page.text and "column=pre_ld_crp_mg_dl" in page.text
    back = chromium.load(index, "All validations")
    _offline(back)
    assert "marts_patients" in back.text and "failed" in back.text


@pytest.fixture(scope="module")
def dbt_static_docs(demo_warehouse, tmp_path_factory):
    """`dbt docs generate --static` (what `make docs` runs) on a copy of the demo warehouse."""
    out = tmp_path_factory.mktemp("dbt_docs")
    shutil.copyfile(demo_warehouse, out / "warehouse.duckdb")
    done = run_dbt(out / "warehouse.duckdb", out, "docs", "generate", "--static")
    assert done.returncode == 0, done.stdout[-3000:]
    return out / "target" / "static_index.html"


def test_dbt_docs_static_file_opens_offline_on_the_overview(chromium, dbt_static_docs, tmp_path):
    page = chromium.load(dbt_static_docs, "Which mart answers which question", screenshot=tmp_path / "dbt_docs.png")
    _offline(page, tolerated=_DBT_TEMPLATE_ARTEFACT)
    assert "cartwh: the data dictionary" in page.text and "docs/definitions.md" in page.text
    assert "(loading)" not in page.text  # what dbt's index.html shows opened as a file
    for source in ("analytics", "ops", "quality", "raw"):  # the sources in the project tree
        assert re.search(rf"^{source}$", page.text, re.M), source
    assert page.counts["table"] >= 2  # the overview's layer and mart tables


def test_dbt_docs_document_a_python_table_offline(chromium, dbt_static_docs):
    page = chromium.load(dbt_static_docs, "at_risk", fragment="#!/source/source.cartwh.analytics.km_estimates")
    _offline(page, tolerated=_DBT_TEMPLATE_ARTEFACT)
    assert "Kaplan-Meier S(t)" in page.text and "Patients at risk just before this time." in page.text

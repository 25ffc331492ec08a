"""The data manager's report at registry scale (issue 22, defect 8): one root cause is one entry. A
warning a dbt test raises for 397 patients (a lab's rounding, on a clean 1,000-patient registry) is
one entry with its count, the patients listed beneath it, collapsed, what to do in plain words
(the test's `meta.action`), and no developer text or source path; `cartwh run`'s summary counts
every warning the pages show."""

from __future__ import annotations

import re

import pytest

from cartwh.ingest.cytometry_loader import create_manifest_table
from cartwh.ingest.warehouse import connect
from cartwh.quality.data_manager_report import open_issues, write_data_manager_report
from cartwh.quality.dbt_tests import dbt_test_results, record_dbt_tests
from orchestration.run_summary import _quality_lines

PATIENTS = 397
TEST = "assert_cytometry_statistics_precise_enough"
MEANING = "The laboratory's tables round statistics away; the values are used as written."
ACTION = "ask the laboratory to export its statistics with full precision, then export the tubes below again"
DEVELOPER = "Statistics whose export rounded away precision (cartwh/ingest/cytometry_loader.py)"


@pytest.fixture
def warned(tmp_path):
    """A warehouse whose latest dbt build warned for 397 patients, as record_dbt_tests keeps it from
    dbt's run_results.json and manifest (the test's YAML description and meta, its SQL comment)."""
    con = connect(tmp_path / "w.duckdb")  # the raw layer as ingestion creates it, empty
    create_manifest_table(con)
    con.execute("CREATE TABLE raw.flagged AS SELECT printf('p%015d', i) AS patient_key FROM range(?) t(i)", [PATIENTS])
    node = {
        "name": TEST,
        "description": MEANING,
        "config": {"meta": {"action": ACTION}},
        "raw_code": f"-- {DEVELOPER}\nselect 1",
        "depends_on": {"nodes": ["model.cartwh.int__sample_populations"]},
    }
    run_results = {
        "results": [
            {
                "unique_id": f"test.cartwh.{TEST}",
                "status": "warn",
                "failures": PATIENTS,
                "compiled_code": "select patient_key from raw.flagged",
                "message": "Got 397 results",
            }
        ]
    }
    record_dbt_tests(con, "run-1", run_results, {"nodes": {f"test.cartwh.{TEST}": node}})
    yield con, tmp_path
    con.close()


def test_a_warning_for_397_patients_is_one_entry(warned):
    con, root = warned
    page = write_data_manager_report(con, root / "restricted", root / "archive").read_text(encoding="utf-8")
    assert page.count('<div class="issue">') == 1
    (title,) = re.findall(r"<h3>(.*?)</h3>", page)
    assert title == f"1. {MEANING.replace(chr(39), '&#39;')} ({PATIENTS} patients)"
    assert f"<b>What to do:</b> {ACTION}." in page
    listed = page.split("<details>", 1)[1].split("</details>", 1)[0]  # beneath it, collapsed
    assert listed.count("<tr>") == PATIENTS + 1  # the header and one row per patient
    assert TEST not in page and "cartwh/" not in page and DEVELOPER not in page  # no developer text or path
    assert len(page.encode()) < 150_000  # the 397 patients fit in one collapsed table
    assert open_issues(con) == (1, PATIENTS, 0, 1)


class _NoChecks:
    def get_asset_check_evaluations(self):
        return []


def test_the_console_counts_every_warning_the_pages_show(warned):
    con, root = warned
    write_data_manager_report(con, root / "restricted", root / "archive")
    lines = _quality_lines(_NoChecks(), dbt_test_results(con), open_issues(con))
    assert lines[0].endswith("and 0 dbt tests ran, 1 failed.")  # the build's own counts come from its checks
    assert lines[1].startswith(f"  warning  {TEST} on int__sample_populations: {PATIENTS} rows: {MEANING[:40]}")
    assert lines[-1].startswith(f"Open issues: {PATIENTS} under 1 root cause(s) (0 blocking, 1 warning(s), 0 set aside")

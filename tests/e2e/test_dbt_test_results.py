"""The dbt tests that warn reach the data-quality pages (cartwh.quality.dbt_tests): a hand-made cross-check
disagreement, one tube's exported CAR-T/uL doubled in the demo's statistics, is listed on the
analysts' page as assert_cytometry_absolute_counts_agree with 1 failing row, and in the data
manager's report as one root cause naming the tube's REDCap record, the tube a knock-on under it."""

from __future__ import annotations

import csv
import json
import shutil

import duckdb
import pytest

from cartwh.quality.data_manager_report import write_data_manager_report
from cartwh.quality.dbt_tests import dbt_test_results, dbt_test_rows, record_dbt_tests
from cartwh.quality.quality_report import write_quality_report
from cartwh.quality.root_causes import DBT_TEST, root_causes
from cartwh.warehouse.publish import publish
from tests.conftest import ingest_and_build

CROSS_CHECK = "assert_cytometry_absolute_counts_agree"
CAR_T_ABSOLUTE = "Leukocytes/Lymphocytes/CD3+/CAR+ | Absolute Count (cells/µL)"


def _double_one_car_t_count(landing) -> tuple[str, dict]:
    """Double the exported CAR-T/uL of the first tube that has more than 10 (twice as many is 50 %
    off the bead count, far above the 10 % allowed); its FCS file and its manifest row."""
    for path in sorted((landing / "cytometry" / "statistics").rglob("*CART-DETECT*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        column = rows[0].index(CAR_T_ABSOLUTE)
        for row in rows[1:]:
            if row[0].endswith(".fcs") and float(row[column]) > 10:
                row[column] = str(float(row[column]) * 2)
                with path.open("w", encoding="utf-8", newline="") as handle:
                    csv.writer(handle, lineterminator="\n").writerows(rows)
                manifest = path.parents[2] / "manifests" / path.relative_to(path.parents[1])
                with manifest.open(encoding="utf-8", newline="") as handle:
                    tube = next(m for m in csv.DictReader(handle) if m["fcs_file"] == row[0])
                return row[0], tube
    raise AssertionError("no tube with more than 10 CAR-T/uL in the demo")


def _disagreement(root, generated):
    """The demo with one tube's exported CAR-T/uL doubled, built up to the cross-check, its dbt tests kept."""
    generated(root / "landing")  # the demo lab exports absolute counts and counts beads
    fcs_file, tube = _double_one_car_t_count(root / "landing")
    ingest_and_build(root, "build", "-s", f"+{CROSS_CHECK}", "--indirect-selection", "cautious")
    target = root / "target"
    with duckdb.connect(str(root / "w.duckdb")) as con:
        kept = record_dbt_tests(
            con,
            "run-1",
            json.loads((target / "run_results.json").read_text()),
            json.loads((target / "manifest.json").read_text()),
        )
    return kept, fcs_file, tube


@pytest.fixture(scope="module")
def disagreement(session_builds, generated, tmp_path_factory):
    """The session's build (once, whichever worker asks first), copied for this module's tests to write into."""
    built, (kept, fcs_file, tube) = session_builds.build(
        "cross-check-disagreement", lambda root: _disagreement(root, generated)
    )
    root = tmp_path_factory.mktemp("cross_check")
    shutil.copytree(built, root, dirs_exist_ok=True)
    con = duckdb.connect(str(root / "w.duckdb"))
    yield root, con, kept, fcs_file, tube
    con.close()


# end to end: a dbt build in its own process
def test_the_cross_check_is_listed_with_its_failing_row_and_meaning(disagreement):
    root, con, kept, _, _ = disagreement
    tests = dbt_test_results(con).set_index("test")
    assert kept == len(tests) and CROSS_CHECK in tests.index
    found = tests.loc[CROSS_CHECK]
    assert (found.status, found.severity, found.failures, found.models) == ("warn", "warn", 1, "int__absolute_counts")
    # what it means and what to do, in the data manager's words (dbt_project/tests/_singular_tests.yml)
    assert found.meaning.startswith("The laboratory's exported CAR-T or B-cell count per µL and the count computed")
    assert found.action.startswith("ask the laboratory which count of each tube below is right")
    [row] = [r for r in dbt_test_rows(con) if r["test"] == CROSS_CHECK]
    tube_patient = con.execute(
        "SELECT patient_key FROM raw.cytometry_samples WHERE tube_key = ?", [row["tube_key"]]
    ).fetchall()
    assert row["patient_key"] == tube_patient[0][0]
    page = write_quality_report(con, root / "reports", root / "gx").read_text(encoding="utf-8")
    assert "dbt tests that warned or failed" in page and f"<code>{CROSS_CHECK}</code>" in page
    with duckdb.connect(str(publish(con, root / "published" / "warehouse.duckdb")), read_only=True) as published:
        assert published.execute("SELECT failures FROM quality.dbt_tests WHERE test = ?", [CROSS_CHECK]).fetchall() == [
            (1,)
        ]


def test_the_data_manager_sees_one_root_cause_with_the_record_id_and_the_tube_under_it(disagreement):
    root, con, _, _, tube = disagreement
    [issue] = [i for i in root_causes(con, root / "archive") if i.kind == DBT_TEST and i.check == CROSS_CHECK]
    assert (issue.record_id, issue.site, issue.severity) == (tube["record_id"], "huvr", "warn")
    assert issue.title.startswith("The laboratory's exported CAR-T or B-cell count per µL")  # plain words, no test name
    [knock_on] = issue.consequences  # the one tube, by what the lab knows it by
    assert knock_on.what.startswith(f"{tube['panel']} tube collected {tube['collection_date']} ({tube['timepoint']}, ")
    assert issue.action.startswith("ask the laboratory which count of each tube below is right")
    page = write_data_manager_report(con, root / "restricted", root / "archive").read_text(encoding="utf-8")
    assert "dbt tests that warned or failed (" in page and CROSS_CHECK not in page  # no developer text
    assert f"record {tube['record_id']} (site huvr)" in page
    # The analysts' root causes name neither the record nor the tube.
    analysts = [i for i in root_causes(con, archive=None) if i.kind == DBT_TEST and i.check == CROSS_CHECK]
    assert [i.record_id for i in analysts] == [None]


def test_the_demo_run_kept_its_dbt_tests(demo_warehouse):
    """The main job's dbt asset keeps the build's tests (none need fail: the table is there, in
    the shape the pages read)."""
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        assert {"test", "models", "status", "failures", "meaning"} <= set(dbt_test_results(con).columns)
        assert con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'quality' "
            "AND table_name IN ('dbt_test_results', 'dbt_test_rows')"
        ).fetchall() == [(2,)]

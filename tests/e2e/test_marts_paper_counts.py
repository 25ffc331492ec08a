"""The marts, built by the main job from the demo cohort, reproduce every count cell of the
paper's Tables 1-3 (the fixture typed from the paper) and its printed group medians."""

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import run_dbt
from tests.paths import FIXTURES

EXPECTED = json.loads((FIXTURES / "paper_table_counts.json").read_text())

# Each count cell as a predicate over marts.patients.
CELLS = {
    "patients": "true",
    "female": "sex = 'Female'",
    "prior_allogeneic_hsct": "prior_hsct",
    "prior_blinatumomab": "prior_blinatumomab",
    "em_disease_prior_to_bt": "pre_bt_em_disease",
    "transition_low_to_low": "tumor_burden_transition = 'low→low'",
    "transition_high_to_low": "tumor_burden_transition = 'high→low'",
    "transition_high_to_high": "tumor_burden_transition = 'high→high'",
    "undetectable_mrd_pre_ld": "undetectable_mrd_pre_ld",
    "hematotox_nair_low": "nair_risk_group = 'low'",
    "hematotox_nair_high": "nair_risk_group = 'high'",
    "hematotox_modified_low": "modified_risk_group = 'low'",
    "hematotox_modified_intermediate": "modified_risk_group = 'intermediate'",
    "hematotox_modified_high": "modified_risk_group = 'high'",
    "crs_any": "crs_any",
    "crs_grade_1": "crs_grade = 1",
    "crs_grade_2": "crs_grade = 2",
    "crs_grade_3_or_more": "crs_grade >= 3",
    "iec_hs": "iec_hs",
    "icans": "icans_any",
    "tocilizumab": "tocilizumab",
    "corticosteroids": "corticosteroids",
    "anakinra_or_siltuximab": "anakinra_or_siltuximab",
    "d28_cr": "d28_response = 'CR'",
    "d28_cri": "d28_response = 'CRi'",
    "d28_mrd_negative": "d28_mrd_negative",
    "relapse_after_car_t": "relapsed",
    "bca_persistent": "bca_outcome = 'persistent'",
    "bca_lost_or_event": "bca_outcome <> 'persistent'",
    "bca_cd19_negative_relapse": "bca_outcome = 'cd19_negative_relapse_during_bca'",
    "bca_consolidative_hsct": "bca_outcome = 'consolidative_hsct_during_bca'",
    "bca_recovery_in_remission": "bca_outcome = 'b_cell_recovery_in_remission'",
    "expansion_above_5_per_ul": "expanded",
    "phenotype_studied_at_peak": "phenotype_at_peak_available",
}


@pytest.fixture(scope="module")
def warehouse(demo_warehouse) -> Path:
    return demo_warehouse


@pytest.fixture
def marts(warehouse):
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con
    con.close()


def test_every_count_cell_of_tables_1_to_3(marts):
    counts = {}
    for name, predicate in CELLS.items():
        rows = dict(
            marts.execute(
                f"SELECT bridging_group, count(*) FILTER (WHERE {predicate}) FROM marts.patients GROUP BY 1"
            ).fetchall()
        )
        counts[name] = [rows["inotuzumab"], rows["chemotherapy"]]
    assert counts == {k: v for k, v in EXPECTED.items() if not k.startswith("_")}


def test_group_medians_printed_in_the_paper(marts):
    """Table 1 and 3 medians the demo cohort is designed to carry (inotuzumab, chemotherapy)."""
    medians = {
        group: values
        for group, *values in marts.execute(
            "SELECT bridging_group, median(age_at_infusion_years), median(pre_bt_blasts_pct), "
            "median(post_bt_b_cells_per_ul), median(peak_car_t_per_ul), median(pct_car_of_cd3_at_peak), "
            "median(day_of_peak) FROM marts.patients GROUP BY 1"
        ).fetchall()
    }
    assert medians["inotuzumab"] == pytest.approx([21, 14.8, 5, 58.3, 10.2, 7], rel=0.01)
    assert medians["chemotherapy"] == pytest.approx([10, 26, 215, 337.7, 30, 7], rel=0.01)


def test_time_to_event_has_every_patient_for_each_endpoint(marts):
    rows = marts.execute(
        "SELECT paramcd, count(*), count(DISTINCT patient_key), sum(is_event::INT) "
        "FROM marts.time_to_event GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows == [("BCA", 24, 24, 15), ("EFS", 24, 24, 9), ("OS", 24, 24, 6), ("REL", 24, 24, 9)]


def test_marts_hold_no_identifier(marts):
    columns = {
        r[0]
        for r in marts.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts'"
        ).fetchall()
    }
    assert not columns & {"record_id", "patient_name", "mrn", "birth_date"}


def test_dbt_build_passes_every_data_and_unit_test(warehouse, tmp_path):
    """dbt build (models, seeds, data tests, unit tests) on a copy of the demo warehouse, results
    read back. A copy: the session's demo is every test's to read, and a build holds the file's
    write lock and rewrites its models while the other workers' tests read them."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse, copy)
    out = run_dbt(copy, tmp_path, "build")
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    failed = [r["unique_id"] for r in results if r["status"] not in ("success", "pass")]
    assert out.returncode == 0 and not failed, (failed, out.stdout[-3000:])
    defined = set(json.loads((tmp_path / "target" / "manifest.json").read_text())["unit_tests"])
    ran = {r["unique_id"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert len(defined) >= 15 and ran == defined
    kinds = [r["unique_id"].split(".")[0] for r in results]
    assert kinds.count("test") >= 150 and kinds.count("model") >= 25

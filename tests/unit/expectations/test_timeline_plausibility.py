"""Dates that cannot be true stop publication (issue 28, item 2): a patient's apheresis, bridging
and lymphodepletion within the windows of docs/definitions.md "Timeline and study day" before the infusion, and
nothing before the patient's birth (the earliest birth date the age at infusion allows). The
attack this answers published 24 birth dates as apheresis dates with every check green: the
dates were in order, only decades early. (A date equal to the record's birth date is quarantined
at ingestion: tests/unit/ingest/test_identifiers_at_ingestion.py.)"""

from __future__ import annotations

import duckdb
import pytest

from expectations.results import check_suite
from expectations.suites import SUITES_DIR, read_suite

# patient, apheresis, bridging start, LD start, infusion, age at infusion
PATIENTS = [
    ("ok", "2024-01-10", "2024-01-15", "2024-03-01", "2024-03-07", 12),
    ("birth date as apheresis", "2012-03-05", "2024-01-15", "2024-03-01", "2024-03-07", 12),  # born 2012-03-05
    ("bridged before birth", "2024-01-10", "1990-06-01", "2024-03-01", "2024-03-07", 12),
    ("apheresis days before infusion", "2024-03-01", "2024-03-01", "2024-03-02", "2024-03-07", 12),
    ("lymphodepletion long before", "2023-10-10", "2023-10-15", "2024-01-02", "2024-03-07", 12),
]


@pytest.fixture
def outcomes(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA marts")
    con.execute(
        """CREATE TABLE marts.patients AS SELECT * REPLACE (apheresis_date::DATE AS apheresis_date,
               bt_start_date::DATE AS bt_start_date, ld_start_date::DATE AS ld_start_date, infusion_date::DATE AS infusion_date),
               'chemotherapy' AS bridging_group, 'low→low' AS tumor_burden_transition, 'low' AS post_bt_tumor_burden,
               'low' AS nair_risk_group, 'low' AS modified_risk_group, 0.5 AS pre_ld_crp_mg_dl,
               1.0 AS pre_ld_anc_1e9_per_l, 10.0 AS pre_ld_hemoglobin_g_dl, 150.0 AS pre_ld_platelets_1e9_per_l,
               1 AS hematotox_score
           FROM (SELECT unnest($rows, recursive := true)) t""",
        {
            "rows": [
                dict(
                    zip(
                        (
                            "patient_key",
                            "apheresis_date",
                            "bt_start_date",
                            "ld_start_date",
                            "infusion_date",
                            "age_at_infusion_years",
                        ),
                        p,
                        strict=True,
                    )
                )
                for p in PATIENTS
            ]
        },
    )
    outcome = check_suite(con, read_suite(SUITES_DIR / "marts_patients.yml"), tmp_path / "gx", "run-1")
    con.close()
    return {
        o.expectation.column: sorted(o.failing_rows["patient_key"])
        for o in outcome.failed
        if o.expectation.severity == "blocking"
    }


def test_dates_that_cannot_be_true_block_publication_each_for_its_reason(outcomes):
    assert outcomes == {
        "days_apheresis_to_infusion": ["apheresis days before infusion", "birth date as apheresis"],
        "days_ld_to_infusion": ["lymphodepletion long before"],
        "bt_start_date vs born_on_or_after": ["bridged before birth"],
    }

"""Ingestion of REDCap flat record exports (cartwh/ingest/redcap_loader.py and the ledger in
cartwh/ingest/load.py), on small exports written by hand in each test."""

from __future__ import annotations

import csv
import hashlib
from datetime import date
from pathlib import Path

import pytest

from cartwh.ingest.errors import IngestError
from cartwh.pseudonym import pseudonymise
from tests.conftest import Warehouse, hmac_pseudonym

SECRET = "redcap-ingest-test-secret"

# A hand-picked subset of the project's export columns, in REDCap's order.
HEADER = [
    "record_id",
    "redcap_repeat_instrument",
    "redcap_repeat_instance",
    "redcap_data_access_group",
    "patient_name",
    "mrn",
    "birth_date",
    "sex",
    "consent_date",
    "demographics_complete",
    "diagnosis_date",
    "cytogenetics",
    "tp53_mutated",
    "prior_lines",
    "prior_hsct",
    "disease_history_complete",
    "bm_date",
    "bm_blasts_pct",
    "bm_mrd_status",
    "marrow_assessment_complete",
    "lab_date",
    "crp_value",
    "crp_unit",
    "laboratory_complete",
    "infusion_date",
    "car_t_dose_1e6_per_kg",
    "lymphodepletion_infusion_complete",
    "crs_grade",
    "anticytokine___1",
    "anticytokine___2",
    "anticytokine___3",
    "anticytokine___4",
    "tocilizumab_doses",
    "toxicity_complete",
]

# Identifying values of the fixture patients: none of them may reach the warehouse.
ZELDA = dict(record_id="SITE7-0042", patient_name="Zelda Quixote", mrn="MRN-5550123", birth_date="1987-03-10")
YORICK = dict(record_id="SITE7-0043", patient_name="Yorick Brandt", mrn="MRN-5550999", birth_date="1990-03-09")

ZELDA_BASE = dict(
    ZELDA,
    redcap_data_access_group="site_7",
    sex="2",
    consent_date="2024-02-20",
    demographics_complete="2",
    diagnosis_date="2019-11-05",
    cytogenetics="9",
    tp53_mutated="1",
    prior_lines="3",
    prior_hsct="0",
    disease_history_complete="2",
    infusion_date="2024-03-09",
    car_t_dose_1e6_per_kg="1.7",
    lymphodepletion_infusion_complete="2",
    crs_grade="1",
    anticytokine___1="1",
    anticytokine___2="0",
    anticytokine___3="0",
    anticytokine___4="1",
    tocilizumab_doses="2",
    toxicity_complete="1",
)
YORICK_BASE = dict(
    YORICK,
    redcap_data_access_group="site_7",
    sex="1",
    consent_date="2024-02-21",
    demographics_complete="2",
    diagnosis_date="2021-06-30",
    cytogenetics="99",
    tp53_mutated="0",
    prior_lines="1",
    prior_hsct="1",
    disease_history_complete="2",
    infusion_date="2024-03-09",
    car_t_dose_1e6_per_kg="0.9",
    lymphodepletion_infusion_complete="2",
    crs_grade="0",
    anticytokine___1="0",
    anticytokine___2="0",
    anticytokine___3="0",
    anticytokine___4="0",
    toxicity_complete="2",
)


def repeat(record_id, form, instance, **values):
    return dict(
        record_id=record_id,
        redcap_repeat_instrument=form,
        redcap_repeat_instance=str(instance),
        redcap_data_access_group="site_7",
        **values,
    )


GOOD_ROWS = [
    ZELDA_BASE,  # row 2
    repeat(
        "SITE7-0042",
        "marrow_assessment",
        1,
        bm_date="2024-04-06",
        bm_blasts_pct="0.5",
        bm_mrd_status="2",
        marrow_assessment_complete="2",
    ),  # row 3
    repeat(
        "SITE7-0042", "laboratory", 1, lab_date="2024-03-10", crp_value="12.5", crp_unit="2", laboratory_complete="2"
    ),  # row 4
    repeat(
        "SITE7-0042", "laboratory", 2, lab_date="2024-03-12", crp_value="3.25", crp_unit="1", laboratory_complete="1"
    ),  # row 5
    YORICK_BASE,  # row 6
    repeat(
        "SITE7-0043", "laboratory", 1, lab_date="2024-03-10", crp_value="0.8", crp_unit="1", laboratory_complete="2"
    ),  # row 7
]


def key(record_id: str, site: str = "site_7") -> str:
    return hmac_pseudonym(SECRET, record_id, site)


def write_export(path: Path, rows: list[dict], header: list[str] = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


class RedcapWarehouse(Warehouse):
    def export(self, name: str, rows: list[dict], header: list[str] = HEADER) -> Path:
        return write_export(self.landing / "redcap" / name, rows, header)


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "site_7")  # for the exports written without a data access group column
    return open_warehouse(RedcapWarehouse, SECRET)


@pytest.fixture
def loaded(wh):
    wh.export("site7_20240501.csv", GOOD_ROWS)
    wh.report = wh.ingest()
    return wh


# --- typing ------------------------------------------------------------------------------------


def column_types(wh, table: str) -> dict[str, str]:
    return {name: kind for name, kind, *_ in wh.rows(f"DESCRIBE {table}")}


def test_report_counts(loaded):
    r = loaded.report
    assert r.files_loaded == ["redcap/site7_20240501.csv"]
    assert r.files_skipped == [] and r.failures == [] and r.rows_quarantined == 0
    assert r.rows["raw.redcap_demographics"] == 2
    assert r.rows["raw.redcap_disease_history"] == 2
    assert r.rows["raw.redcap_laboratory"] == 3
    assert r.rows["raw.redcap_marrow_assessment"] == 1
    assert r.rows["raw.redcap_lymphodepletion_infusion"] == 2
    assert r.rows["raw.redcap_toxicity"] == 2
    assert r.rows["raw.redcap_bridging_therapy"] == 0
    assert r.rows["raw.redcap_follow_up_status"] == 0
    assert loaded.quarantine() == []


def test_column_types(loaded):
    demo = column_types(loaded, "raw.redcap_demographics")
    assert demo == {
        "patient_key": "VARCHAR",
        "site": "VARCHAR",
        "redcap_event_name": "VARCHAR",
        "sex": "VARCHAR",
        "consent_date": "DATE",
        "age_at_infusion_years": "BIGINT",
        "form_status": "SMALLINT",
        "_load_id": "BIGINT",
        "_source_row": "BIGINT",
    }
    history = column_types(loaded, "raw.redcap_disease_history")
    assert history["diagnosis_date"] == "DATE"
    assert history["cytogenetics"] == "VARCHAR"
    assert history["tp53_mutated"] == "BOOLEAN"
    assert history["prior_hsct"] == "BOOLEAN"
    assert history["prior_lines"] == "BIGINT"
    lab = column_types(loaded, "raw.redcap_laboratory")
    assert lab["redcap_repeat_instance"] == "BIGINT"
    assert lab["lab_date"] == "DATE"
    assert lab["crp_value"] == "DOUBLE"
    assert lab["crp_unit"] == "VARCHAR"
    tox = column_types(loaded, "raw.redcap_toxicity")
    assert [tox[f"anticytokine___{i}"] for i in (1, 2, 3, 4)] == ["BOOLEAN"] * 4
    assert tox["tocilizumab_doses"] == "BIGINT"
    assert tox["crs_grade"] == "VARCHAR"
    assert column_types(loaded, "raw.redcap_lymphodepletion_infusion")["car_t_dose_1e6_per_kg"] == "DOUBLE"


def test_typed_values(loaded):
    zelda, yorick = key("SITE7-0042"), key("SITE7-0043")
    assert loaded.rows(
        "SELECT patient_key, site, sex, consent_date, form_status, _source_row FROM raw.redcap_demographics "
        "ORDER BY _source_row"
    ) == [(zelda, "site_7", "2", date(2024, 2, 20), 2, 2), (yorick, "site_7", "1", date(2024, 2, 21), 2, 6)]
    assert loaded.rows(
        "SELECT patient_key, diagnosis_date, cytogenetics, tp53_mutated, prior_lines, prior_hsct "
        "FROM raw.redcap_disease_history ORDER BY _source_row"
    ) == [(zelda, date(2019, 11, 5), "9", True, 3, False), (yorick, date(2021, 6, 30), "99", False, 1, True)]
    assert loaded.rows(
        "SELECT patient_key, crs_grade, anticytokine___1, anticytokine___2, anticytokine___3, anticytokine___4, "
        "tocilizumab_doses, form_status FROM raw.redcap_toxicity ORDER BY _source_row"
    ) == [(zelda, "1", True, False, False, True, 2, 1), (yorick, "0", False, False, False, False, None, 2)]
    assert loaded.rows(
        "SELECT patient_key, infusion_date, car_t_dose_1e6_per_kg FROM raw.redcap_lymphodepletion_infusion "
        "ORDER BY _source_row"
    ) == [(zelda, date(2024, 3, 9), 1.7), (yorick, date(2024, 3, 9), 0.9)]


def test_repeating_instruments_one_row_per_instance(loaded):
    zelda, yorick = key("SITE7-0042"), key("SITE7-0043")
    assert loaded.rows(
        "SELECT patient_key, redcap_repeat_instance, lab_date, crp_value, crp_unit, form_status, _source_row "
        "FROM raw.redcap_laboratory ORDER BY _source_row"
    ) == [
        (zelda, 1, date(2024, 3, 10), 12.5, "2", 2, 4),
        (zelda, 2, date(2024, 3, 12), 3.25, "1", 1, 5),
        (yorick, 1, date(2024, 3, 10), 0.8, "1", 2, 7),
    ]
    assert loaded.rows(
        "SELECT patient_key, redcap_repeat_instance, bm_date, bm_blasts_pct, bm_mrd_status, _source_row "
        "FROM raw.redcap_marrow_assessment"
    ) == [(zelda, 1, date(2024, 4, 6), 0.5, "2", 3)]


def test_repeating_rows_do_not_create_base_form_rows(loaded):
    # Only the two base rows (2 and 6) feed the once-per-patient forms.
    for form in ("demographics", "disease_history", "lymphodepletion_infusion", "toxicity"):
        assert loaded.rows(f"SELECT _source_row FROM raw.redcap_{form} ORDER BY 1") == [(2,), (6,)]
    assert "redcap_repeat_instance" not in column_types(loaded, "raw.redcap_demographics")


def test_base_rows_do_not_create_repeating_rows(loaded):
    assert loaded.rows("SELECT _source_row FROM raw.redcap_laboratory WHERE _source_row IN (2, 6)") == []


# --- pseudonymisation and identifiers ----------------------------------------------------------


def test_patient_key_is_the_pseudonym_of_the_record_id(loaded):
    keys = {k for (k,) in loaded.rows("SELECT DISTINCT patient_key FROM raw.redcap_laboratory")}
    assert (
        keys
        == {pseudonymise("SITE7-0042", site="site_7"), pseudonymise("SITE7-0043", site="site_7")}
        == {key("SITE7-0042"), key("SITE7-0043")}
    )


def test_record_id_whitespace_does_not_split_a_patient(wh):
    wh.export(
        "a.csv",
        [dict(ZELDA_BASE, record_id=" SITE7-0042 "), repeat("SITE7-0042", "laboratory", 1, lab_date="2024-03-10")],
    )
    wh.ingest()
    assert wh.rows("SELECT patient_key FROM raw.redcap_demographics") == [(key("SITE7-0042"),)]
    assert wh.rows("SELECT patient_key FROM raw.redcap_laboratory") == [(key("SITE7-0042"),)]


def raw_tables(wh) -> list[str]:
    return [t for (t,) in wh.rows("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' ORDER BY 1")]


def test_identifiers_absent_from_raw_columns(loaded):
    for table in raw_tables(loaded):
        columns = set(column_types(loaded, f"raw.{table}"))
        assert not columns & {"patient_name", "mrn", "birth_date", "record_id"}, table


def test_identifiers_absent_from_raw_values(loaded):
    # Also quarantine a row, so raw.quarantine holds something to search.
    loaded.export("site7_20240601.csv", GOOD_ROWS + [dict(ZELDA_BASE, sex="9")])
    loaded.ingest()
    assert loaded.rows("SELECT count(*) FROM raw.quarantine")[0][0] > 0
    secrets = [ZELDA[k] for k in ZELDA] + [YORICK[k] for k in YORICK]
    tables = raw_tables(loaded)
    assert {"redcap_demographics", "redcap_laboratory", "quarantine", "landed_files"} <= set(tables)
    for table in tables:
        columns = list(column_types(loaded, f"raw.{table}"))
        for secret in secrets:
            hits = loaded.rows(
                f"SELECT count(*) FROM raw.{table} WHERE "
                + " OR ".join(f'contains(CAST("{c}" AS VARCHAR), ?)' for c in columns),
                [secret] * len(columns),
            )[0][0]
            assert hits == 0, f"{secret!r} found in raw.{table}"


def test_age_at_infusion_by_calendar(loaded):
    ages = dict(loaded.rows("SELECT patient_key, age_at_infusion_years FROM raw.redcap_demographics"))
    # Zelda: born 1987-03-10, infused 2024-03-09, the day before her 37th birthday.
    assert ages[key("SITE7-0042")] == 36
    # Yorick: born 1990-03-09, infused on his 34th birthday.
    assert ages[key("SITE7-0043")] == 34


@pytest.mark.parametrize(
    "born, infused, expected",
    [
        ("2000-12-31", "2024-01-01", 23),
        ("2000-01-01", "2023-12-31", 23),
        ("2000-01-01", "2024-01-01", 24),
        ("2024-01-05", "2024-06-01", 0),
    ],
)
def test_age_at_infusion_edge_dates(wh, born, infused, expected):
    wh.export("a.csv", [dict(ZELDA_BASE, birth_date=born, infusion_date=infused)])
    wh.ingest()
    assert wh.rows("SELECT age_at_infusion_years FROM raw.redcap_demographics") == [(expected,)]


def test_age_is_null_without_infusion_date(wh):
    wh.export("a.csv", [dict(ZELDA_BASE, infusion_date="")])
    wh.ingest()
    assert wh.rows("SELECT age_at_infusion_years FROM raw.redcap_demographics") == [(None,)]


# --- quarantine --------------------------------------------------------------------------------

FILE = "redcap/site7_20240501.csv"


def test_value_problems_quarantined_with_file_row_column_reason(wh):
    wh.export(
        "site7_20240501.csv",
        [
            ZELDA_BASE,  # row 2
            repeat("SITE7-0042", "marrow_assessment", 1, bm_date="2024-04-06", bm_blasts_pct="140"),  # row 3
            repeat("SITE7-0042", "laboratory", 1, lab_date="2024-03-10", crp_value="10,5", crp_unit="2"),  # row 4
            repeat("SITE7-0042", "laboratory", 2, lab_date="31/02/2024", crp_value="1.5", crp_unit="1"),  # row 5
            repeat("SITE7-0042", "laboratory", 3, lab_date="2024-03-14", crp_value="2.5", crp_unit="1"),  # row 6
            dict(YORICK_BASE, sex="9"),  # row 7
        ],
    )
    report = wh.ingest()
    zelda, yorick = key("SITE7-0042"), key("SITE7-0043")
    assert wh.quarantine() == [
        (FILE, 3, "bm_blasts_pct", "above the maximum 100.0 [form marrow_assessment]", "140", zelda),
        (FILE, 4, "crp_value", "not a number (with a decimal point) [form laboratory]", "10,5", zelda),
        (FILE, 5, "lab_date", "not a date (YYYY-MM-DD) [form laboratory]", "31/02/2024", zelda),
        (FILE, 7, "sex", "not one of the allowed codes (1, 2) [form demographics]", "9", yorick),
    ]
    assert report.rows_quarantined == 4
    assert wh.rows("SELECT rows_quarantined FROM raw.landed_files") == [(4,)]
    # The good repeating row still loads; the bad ones do not.
    assert wh.rows("SELECT _source_row, crp_value FROM raw.redcap_laboratory") == [(6, 2.5)]
    assert wh.rows("SELECT count(*) FROM raw.redcap_marrow_assessment") == [(0,)]


def test_below_minimum_and_out_of_range_integer(wh):
    wh.export(
        "a.csv",
        [
            dict(ZELDA_BASE, prior_lines="0", tocilizumab_doses="11"),  # row 2
            repeat("SITE7-0042", "laboratory", 1, lab_date="2024-03-10", crp_value="-1"),  # row 3
        ],
    )
    wh.ingest()
    zelda = key("SITE7-0042")
    assert wh.quarantine() == [
        ("redcap/a.csv", 2, "prior_lines", "below the minimum 1.0 [form disease_history]", "0", zelda),
        ("redcap/a.csv", 2, "tocilizumab_doses", "above the maximum 10.0 [form toxicity]", "11", zelda),
        ("redcap/a.csv", 3, "crp_value", "below the minimum 0.0 [form laboratory]", "-1", zelda),
    ]


def test_bad_value_quarantines_only_its_form_of_a_base_row(wh):
    wh.export("a.csv", [dict(ZELDA_BASE, sex="9"), dict(YORICK_BASE, crs_grade="7")])
    wh.ingest()
    zelda, yorick = key("SITE7-0042"), key("SITE7-0043")
    assert wh.quarantine() == [
        ("redcap/a.csv", 2, "sex", "not one of the allowed codes (1, 2) [form demographics]", "9", zelda),
        (
            "redcap/a.csv",
            3,
            "crs_grade",
            "not one of the allowed codes (0, 1, 2, 3, 4, 5) [form toxicity]",
            "7",
            yorick,
        ),
    ]
    assert wh.rows("SELECT patient_key FROM raw.redcap_demographics") == [(yorick,)]
    assert wh.rows("SELECT patient_key FROM raw.redcap_toxicity") == [(zelda,)]
    for form in ("disease_history", "lymphodepletion_infusion"):
        assert wh.rows(f"SELECT patient_key FROM raw.redcap_{form} ORDER BY _source_row") == [(zelda,), (yorick,)]


def test_yesno_and_checkbox_accept_only_0_and_1(wh):
    wh.export("a.csv", [dict(ZELDA_BASE, tp53_mutated="yes", anticytokine___3="2")])
    wh.ingest()
    zelda = key("SITE7-0042")
    assert wh.quarantine() == [
        ("redcap/a.csv", 2, "anticytokine___3", "not one of the allowed codes (0, 1) [form toxicity]", "2", zelda),
        ("redcap/a.csv", 2, "tp53_mutated", "not one of the allowed codes (0, 1) [form disease_history]", "yes", zelda),
    ]
    assert wh.rows("SELECT count(*) FROM raw.redcap_toxicity") == [(0,)]
    assert wh.rows("SELECT count(*) FROM raw.redcap_disease_history") == [(0,)]
    assert wh.rows("SELECT count(*) FROM raw.redcap_demographics") == [(1,)]


def test_quarantine_never_stores_identifier_values(wh):
    wh.export("a.csv", [dict(ZELDA_BASE, birth_date="1987-02-30")])
    wh.ingest()
    assert wh.quarantine() == [
        ("redcap/a.csv", 2, "birth_date", "not a date (YYYY-MM-DD) [form demographics]", None, key("SITE7-0042")),
    ]
    assert wh.rows("SELECT count(*) FROM raw.redcap_demographics") == [(0,)]
    assert wh.rows("SELECT count(*) FROM raw.redcap_disease_history") == [(1,)]


def test_repeating_row_without_instance_and_unknown_instrument(wh):
    wh.export(
        "a.csv",
        [
            ZELDA_BASE,  # row 2
            dict(repeat("SITE7-0042", "laboratory", 1, lab_date="2024-03-10"), redcap_repeat_instance=""),  # row 3
            repeat("SITE7-0042", "labs", 1, lab_date="2024-03-10"),  # row 4
            repeat("SITE7-0042", "laboratory", 0, lab_date="2024-03-10"),  # row 5
        ],
    )
    wh.ingest()
    zelda = key("SITE7-0042")
    assert wh.quarantine() == [
        (
            "redcap/a.csv",
            3,
            "redcap_repeat_instance",
            "a repeating instrument row without an instance number",
            None,
            zelda,
        ),
        (
            "redcap/a.csv",
            4,
            "redcap_repeat_instrument",
            "not one of the allowed codes (bridging_therapy, marrow_assessment, laboratory, follow_up_event)",
            "labs",
            zelda,
        ),
        ("redcap/a.csv", 5, "redcap_repeat_instance", "below the minimum 1.0", "0", zelda),
    ]
    assert wh.rows("SELECT count(*) FROM raw.redcap_laboratory") == [(0,)]
    assert wh.rows("SELECT count(*) FROM raw.redcap_demographics") == [(1,)]


def test_truncated_last_line_rejected_by_the_csv_reader(wh):
    path = wh.export("a.csv", GOOD_ROWS[:4])
    text = path.read_text()
    # Cut the file in the middle of the last row's lab_date: "SITE7-0042,laboratory,2,site_7,...,2024-0"
    cut = text.rindex("2024-03-12") + len("2024-0")
    path.write_text(text[:cut])
    report = wh.ingest()
    assert wh.quarantine() == [
        ("redcap/a.csv", 5, "crp_value", "malformed row (missing columns): expected 34 columns", None, None),
    ]
    assert report.rows_quarantined == 1
    assert wh.rows("SELECT _source_row FROM raw.redcap_laboratory") == [(4,)]
    assert wh.rows("SELECT _source_row FROM raw.redcap_marrow_assessment") == [(3,)]


def test_rejected_line_in_the_middle_keeps_later_row_numbers(wh):
    path = wh.export("a.csv", GOOD_ROWS)
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = "SITE7-0042,laboratory,1,site_7,,,extra\n"  # row 4: 7 cells instead of 34
    path.write_text("".join(lines))
    wh.ingest()
    assert wh.quarantine() == [
        ("redcap/a.csv", 4, "sex", "malformed row (missing columns): expected 34 columns", None, None),
    ]
    assert wh.rows("SELECT redcap_repeat_instance, _source_row FROM raw.redcap_laboratory ORDER BY 2") == [
        (2, 5),
        (1, 7),
    ]
    assert wh.rows("SELECT _source_row FROM raw.redcap_demographics ORDER BY 1") == [(2,), (6,)]


def test_row_numbers_count_records_not_lines(wh):
    # A quoted free-text value with an embedded newline is one row in spreadsheet numbering.
    header = ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance", "bt_agent", "bt_regimen"]
    wh.export(
        "a.csv",
        [
            {
                "record_id": "SITE7-0042",
                "redcap_repeat_instrument": "bridging_therapy",
                "redcap_repeat_instance": "1",
                "bt_agent": "2",
                "bt_regimen": "vincristine\ndexamethasone",
            },  # row 2
            {
                "record_id": "SITE7-0042",
                "redcap_repeat_instrument": "bridging_therapy",
                "redcap_repeat_instance": "2",
                "bt_agent": "6",
                "bt_regimen": "other",
            },  # row 3
        ],
        header,
    )
    wh.ingest()
    assert wh.quarantine() == [
        (
            "redcap/a.csv",
            3,
            "bt_agent",
            "not one of the allowed codes (1, 2, 3, 4, 5) [form bridging_therapy]",
            "6",
            key("SITE7-0042"),
        ),
    ]
    assert wh.rows("SELECT bt_regimen, _source_row FROM raw.redcap_bridging_therapy") == [
        ("vincristine\ndexamethasone", 2)
    ]


def test_exact_duplicate_row(wh):
    rows = GOOD_ROWS[:4] + [GOOD_ROWS[3]] + GOOD_ROWS[4:]  # row 6 repeats row 5
    wh.export("a.csv", rows)
    wh.ingest()
    assert wh.quarantine() == [("redcap/a.csv", 6, None, "exact duplicate of row 5", None, key("SITE7-0042"))]
    assert wh.rows(
        "SELECT redcap_repeat_instance, _source_row FROM raw.redcap_laboratory WHERE patient_key = ? ORDER BY 2",
        [key("SITE7-0042")],
    ) == [(1, 4), (2, 5)]


def test_conflicting_duplicates_quarantine_every_version(wh):
    conflicting = dict(GOOD_ROWS[3], crp_value="33.0")  # same record, instrument and instance as row 5
    wh.export("a.csv", GOOD_ROWS[:4] + [conflicting] + GOOD_ROWS[4:])
    wh.ingest()
    reason = "conflicting rows for the same record, repeating instrument and instance (rows 5, 6)"
    zelda = key("SITE7-0042")
    assert wh.quarantine() == [
        ("redcap/a.csv", 5, None, reason, None, zelda),
        ("redcap/a.csv", 6, None, reason, None, zelda),
    ]
    assert wh.rows("SELECT redcap_repeat_instance FROM raw.redcap_laboratory WHERE patient_key = ?", [zelda]) == [(1,)]


def test_conflicting_base_rows(wh):
    wh.export("a.csv", [ZELDA_BASE, dict(ZELDA_BASE, crs_grade="3")])
    wh.ingest()
    reason = "conflicting rows for the same record, repeating instrument and instance (rows 2, 3)"
    assert [q[1:4] for q in wh.quarantine()] == [(2, None, reason), (3, None, reason)]
    assert wh.rows("SELECT count(*) FROM raw.redcap_demographics") == [(0,)]
    assert wh.rows("SELECT count(*) FROM raw.redcap_toxicity") == [(0,)]


def test_column_not_in_dictionary_is_noted_and_ignored(wh):
    header = HEADER + ["patient_email"]
    wh.export("a.csv", [dict(ZELDA_BASE, patient_email="zelda@example.org")], header)
    wh.ingest()
    assert wh.quarantine() == [
        ("redcap/a.csv", 1, "patient_email", "column not in the data dictionary: ignored", None, None)
    ]
    assert wh.rows("SELECT count(*) FROM raw.redcap_demographics") == [(1,)]


# --- unreadable files --------------------------------------------------------------------------


def test_file_without_record_id_fails_alone(wh):
    wh.export("a_good.csv", GOOD_ROWS)
    header = [c for c in HEADER if c != "record_id"]
    wh.export("b_no_record_id.csv", [{k: v for k, v in ZELDA_BASE.items() if k != "record_id"}], header)
    wh.export("c_good.csv", [dict(YORICK_BASE, record_id="SITE7-0099")])
    with pytest.raises(IngestError) as raised:
        wh.ingest()
    assert "redcap/b_no_record_id.csv" in str(raised.value)
    assert [(f.file, f.column) for f in raised.value.failures] == [("redcap/b_no_record_id.csv", "record_id")]
    assert wh.rows("SELECT file FROM raw.landed_files ORDER BY file") == [
        ("redcap/a_good.csv",),
        ("redcap/c_good.csv",),
    ]
    assert wh.rows("SELECT count(*) FROM raw.redcap_demographics") == [(3,)]
    assert wh.rows("SELECT count(*) FROM raw.quarantine") == [(0,)]


def test_empty_file_fails_alone(wh):
    (wh.landing / "redcap").mkdir(parents=True)
    (wh.landing / "redcap" / "a_empty.csv").write_bytes(b"")
    wh.export("b_good.csv", GOOD_ROWS)
    with pytest.raises(IngestError) as raised:
        wh.ingest()
    assert "redcap/a_empty.csv" in str(raised.value)
    assert [f.file for f in raised.value.failures] == ["redcap/a_empty.csv"]
    assert wh.rows("SELECT file FROM raw.landed_files") == [("redcap/b_good.csv",)]
    assert wh.rows("SELECT count(*) FROM raw.redcap_demographics") == [(2,)]


def test_failures_reported_without_raising(wh):
    (wh.landing / "redcap").mkdir(parents=True)
    (wh.landing / "redcap" / "a_empty.csv").write_bytes(b"")
    wh.export("b_good.csv", GOOD_ROWS)
    report = wh.ingest(raise_on_failure=False)
    assert [f.file for f in report.failures] == ["redcap/a_empty.csv"]
    assert report.files_loaded == ["redcap/b_good.csv"]


def test_header_only_export_loads_nothing(wh):
    wh.export("a.csv", [])
    report = wh.ingest()
    assert report.files_loaded == ["redcap/a.csv"]
    assert sum(report.rows.values()) == 0
    assert wh.rows("SELECT rows_loaded, rows_quarantined FROM raw.landed_files") == [(0, 0)]


# --- idempotency, supersession, archive ---------------------------------------------------------


def test_second_ingest_loads_nothing(loaded):
    again = loaded.ingest()
    assert again.files_loaded == []
    assert again.files_skipped == ["redcap/site7_20240501.csv"]
    assert again.rows == {} and again.rows_quarantined == 0
    assert loaded.rows("SELECT count(*) FROM raw.landed_files") == [(1,)]
    assert loaded.rows("SELECT count(*) FROM raw.redcap_laboratory") == [(3,)]


def test_connection_usable_after_a_run_that_skipped_files(loaded):
    loaded.ingest()
    assert loaded.con.sql("SELECT count(*) FROM raw.landed_files").fetchall() == [(1,)]


def test_changed_file_supersedes_earlier_version(loaded):
    first_id = loaded.rows("SELECT load_id FROM raw.landed_files")[0][0]
    changed = [dict(GOOD_ROWS[0], crs_grade="2")] + GOOD_ROWS[1:]
    loaded.export("site7_20240501.csv", changed)
    report = loaded.ingest()
    assert report.files_loaded == ["redcap/site7_20240501.csv"]
    assert report.files_superseding == ["redcap/site7_20240501.csv"]
    (second_id,) = [i for (i,) in loaded.rows("SELECT load_id FROM raw.landed_files WHERE load_id <> ?", [first_id])]
    assert loaded.rows("SELECT load_id, superseded_by FROM raw.landed_files ORDER BY load_id") == [
        (first_id, second_id),
        (second_id, None),
    ]
    # Both versions stay in raw, each marked with its own load.
    assert loaded.rows(
        "SELECT _load_id, crs_grade FROM raw.redcap_toxicity WHERE patient_key = ? ORDER BY 1", [key("SITE7-0042")]
    ) == [(first_id, "1"), (second_id, "2")]
    assert loaded.rows("SELECT _load_id, count(*) FROM raw.redcap_laboratory GROUP BY 1 ORDER BY 1") == [
        (first_id, 3),
        (second_id, 3),
    ]


def test_third_version_supersedes_only_the_current_one(loaded):
    loaded.export("site7_20240501.csv", [dict(GOOD_ROWS[0], crs_grade="2")] + GOOD_ROWS[1:])
    loaded.ingest()
    loaded.export("site7_20240501.csv", [dict(GOOD_ROWS[0], crs_grade="3")] + GOOD_ROWS[1:])
    loaded.ingest()
    assert loaded.rows("SELECT load_id, superseded_by FROM raw.landed_files ORDER BY load_id") == [
        (1, 2),
        (2, 3),
        (3, None),
    ]


def test_another_file_does_not_supersede(loaded):
    loaded.export("site7_20240601.csv", [dict(YORICK_BASE, record_id="SITE7-0099")])
    report = loaded.ingest()
    assert report.files_loaded == ["redcap/site7_20240601.csv"]
    assert report.files_skipped == ["redcap/site7_20240501.csv"]
    assert report.files_superseding == []
    assert loaded.rows("SELECT count(*) FROM raw.landed_files WHERE superseded_by IS NOT NULL") == [(0,)]


def test_file_reverted_to_an_earlier_version_becomes_current_again(loaded):
    loaded.export("site7_20240501.csv", [dict(GOOD_ROWS[0], crs_grade="2")] + GOOD_ROWS[1:])
    loaded.ingest()
    loaded.export("site7_20240501.csv", GOOD_ROWS)  # byte-identical to version 1
    report = loaded.ingest()
    assert report.files_loaded == report.files_superseding == ["redcap/site7_20240501.csv"]
    assert loaded.rows("SELECT load_id, superseded_by FROM raw.landed_files ORDER BY load_id") == [
        (1, 2),
        (2, 3),
        (3, None),
    ]
    assert loaded.rows(
        "SELECT _load_id, crs_grade FROM raw.redcap_toxicity WHERE patient_key = ? ORDER BY 1", [key("SITE7-0042")]
    ) == [(1, "1"), (2, "2"), (3, "1")]


def test_archive_copy_by_checksum(loaded):
    path = loaded.landing / "redcap" / "site7_20240501.csv"
    content = path.read_bytes()
    sha = hashlib.sha256(content).hexdigest()
    target = loaded.archive / sha[:2] / f"{sha}.csv"
    assert target.read_bytes() == content
    assert loaded.rows(
        "SELECT sha256, bytes, archive_path, rows_loaded, rows_quarantined, source, file FROM raw.landed_files"
    ) == [(sha, len(content), str(target), 12, 0, "redcap", "redcap/site7_20240501.csv")]
    assert sorted(loaded.archive.rglob("*")) == sorted(
        [
            target.parent,
            target,
            loaded.archive / "ledger.jsonl",
            loaded.archive / "record_ids.duckdb",
            loaded.archive / "known_records.duckdb",
        ]
    )  # the restricted record map, and what ingestion keeps of the records between runs


def test_superseded_version_stays_archived(loaded):
    first = (loaded.landing / "redcap" / "site7_20240501.csv").read_bytes()
    loaded.export("site7_20240501.csv", [dict(GOOD_ROWS[0], crs_grade="2")] + GOOD_ROWS[1:])
    second = (loaded.landing / "redcap" / "site7_20240501.csv").read_bytes()
    loaded.ingest()
    for content in (first, second):
        sha = hashlib.sha256(content).hexdigest()
        assert (loaded.archive / sha[:2] / f"{sha}.csv").read_bytes() == content


# --- library bugs --------------------------------------------------------------------------------


def test_export_without_repeat_columns(wh):
    header = [c for c in HEADER if c not in ("redcap_repeat_instrument", "redcap_repeat_instance")]
    base = {k: v for k, v in ZELDA_BASE.items() if k in header}
    wh.export("a.csv", [base], header)
    wh.ingest()
    assert wh.rows("SELECT patient_key, sex FROM raw.redcap_demographics") == [(key("SITE7-0042"), "2")]


def test_decimal_in_integer_field_is_quarantined(wh):
    wh.export("a.csv", [dict(ZELDA_BASE, prior_lines="2.5")])
    wh.ingest()
    assert [(q[1], q[2], q[3], q[4]) for q in wh.quarantine()] == [
        (2, "prior_lines", "not an integer [form disease_history]", "2.5")
    ]


def test_non_finite_number_is_quarantined(wh):
    wh.export("a.csv", [ZELDA_BASE, repeat("SITE7-0042", "laboratory", 1, lab_date="2024-03-10", crp_value="NaN")])
    wh.ingest()
    assert [(q[1], q[2]) for q in wh.quarantine()] == [(3, "crp_value")]
    assert wh.rows("SELECT count(*) FROM raw.redcap_laboratory") == [(0,)]

"""Ingestion of cytometry exports (cartwh/ingest/cytometry_loader.py): population statistics
tables melted to one row per sample x gate x statistic, and sample manifests, on small files
written by hand in each test."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest

from cartwh.ingest.errors import IngestError
from cartwh.pseudonym import pseudonymise
from tests.conftest import Warehouse, hmac_pseudonym, hmac_tube_key

SECRET = "cytometry-ingest-test-secret"
STATS = "cytometry/statistics"
MANIFESTS = "cytometry/manifests"

LEUK_COUNT = "Leukocytes | Count"
LYMPH_FREQ = "Leukocytes/Lymphocytes | Freq. of Parent"
CD3_ABS = "Leukocytes/Lymphocytes/CD3+ | Absolute Count (cells/µL)"
CAR_TOTAL = "Leukocytes/Lymphocytes/CD3+/CD19-CAR+ | Freq. of Total"

STATS_TEXT = f"""Sample,{LEUK_COUNT},{LYMPH_FREQ},{CD3_ABS},{CAR_TOTAL}
A0000001_T1.fcs,50000,25.5,812.25,0.42
A0000002_T1.fcs,40000,31,700,
Mean,45000,28.25,756.125,0.42
SD,7071.068,3.889,79.373,
"""

MANIFEST_HEADER = "fcs_file,record_id,specimen,collection_date,timepoint,instrument,panel,acquisition_date\n"


def key(record_id: str) -> str:
    return hmac_pseudonym(SECRET, record_id, "site7")  # the SITE7 folder, or CARTWH_SITE (fixture)


def tube(fcs_file: str) -> str:
    return hmac_tube_key(SECRET, fcs_file, "site7")  # the SITE7 folder, or CARTWH_SITE (fixture)


class CytometryWarehouse(Warehouse):
    source = "cytometry_statistics"

    def write(self, name: str, text: str) -> Path:
        path = self.landing / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def stats(self) -> list[tuple]:
        return self.rows(
            "SELECT tube_key, gate_path, statistic, value, _source_row "
            "FROM raw.cytometry_population_stats ORDER BY _source_row, gate_path, statistic"
        )


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "SITE7")  # manifests landing directly in manifests/ are this site's
    return open_warehouse(CytometryWarehouse, SECRET)


# --- population statistics ---------------------------------------------------------------------


def test_statistics_melted_to_one_row_per_gate_and_statistic(wh):
    wh.write(f"{STATS}/SITE7/2024-03_CART-DETECT-v2.csv", STATS_TEXT)
    report = wh.ingest("cytometry_statistics")
    assert report.files_loaded == [f"{STATS}/SITE7/2024-03_CART-DETECT-v2.csv"]
    assert report.rows == {"raw.cytometry_population_stats": 7}
    assert report.rows_quarantined == 0
    assert wh.stats() == [
        (tube("A0000001_T1.fcs"), "Leukocytes", "Count", 50000.0, 2),
        (tube("A0000001_T1.fcs"), "Leukocytes/Lymphocytes", "Freq. of Parent", 25.5, 2),
        (tube("A0000001_T1.fcs"), "Leukocytes/Lymphocytes/CD3+", "Absolute Count (cells/µL)", 812.25, 2),
        (tube("A0000001_T1.fcs"), "Leukocytes/Lymphocytes/CD3+/CD19-CAR+", "Freq. of Total", 0.42, 2),
        (tube("A0000002_T1.fcs"), "Leukocytes", "Count", 40000.0, 3),
        (tube("A0000002_T1.fcs"), "Leukocytes/Lymphocytes", "Freq. of Parent", 31.0, 3),
        (tube("A0000002_T1.fcs"), "Leukocytes/Lymphocytes/CD3+", "Absolute Count (cells/µL)", 700.0, 3),
    ]
    assert wh.quarantine() == []


def test_statistics_column_types(wh):
    wh.write(f"{STATS}/b.csv", STATS_TEXT)
    wh.ingest("cytometry_statistics")
    assert dict((n, t) for n, t, *_ in wh.rows("DESCRIBE raw.cytometry_population_stats")) == {
        "tube_key": "VARCHAR",
        "gate_path": "VARCHAR",
        "statistic": "VARCHAR",
        "value": "DOUBLE",
        "_load_id": "BIGINT",
        "_source_row": "BIGINT",
        "significant_figures": "SMALLINT",
    }


def test_summary_rows_are_not_samples(wh):
    wh.write(f"{STATS}/b.csv", STATS_TEXT)
    wh.ingest("cytometry_statistics")
    assert set(wh.rows("SELECT DISTINCT tube_key FROM raw.cytometry_population_stats")) == {
        (tube("A0000001_T1.fcs"),),
        (tube("A0000002_T1.fcs"),),
    }


def test_impossible_statistics_quarantine_the_sample_row(wh):
    name = f"{STATS}/b.csv"
    wh.write(
        name,
        f"""Sample,{LEUK_COUNT},{LYMPH_FREQ},{CD3_ABS},{CAR_TOTAL}
A0000001_T1.fcs,50000,25.5,812.25,0.42
A0000002_T1.fcs,40000,130,700,0.1
A0000003_T1.fcs,-5,20,600,0.2
A0000004_T1.fcs,30000,20,-1.5,100.5
A0000005_T1.fcs,30000,20,abc,0.3
Mean,1,1,1,1
""",
    )
    report = wh.ingest("cytometry_statistics")
    assert wh.quarantine() == [
        (name, 3, LYMPH_FREQ, "above the maximum 100.0", "130", None),
        (name, 4, LEUK_COUNT, "below the minimum 0.0", "-5", None),
        (name, 5, CD3_ABS, "below the minimum 0.0", "-1.5", None),
        (name, 5, CAR_TOTAL, "above the maximum 100.0", "100.5", None),
        (name, 6, CD3_ABS, "not a number (with a decimal point)", "abc", None),
    ]
    assert report.rows_quarantined == 4
    assert wh.rows("SELECT DISTINCT tube_key FROM raw.cytometry_population_stats") == [(tube("A0000001_T1.fcs"),)]


def test_percentages_at_bounds_are_valid(wh):
    wh.write(f"{STATS}/b.csv", f"Sample,{LYMPH_FREQ},{LEUK_COUNT}\nA.fcs,100,0\nB.fcs,0,12\n")
    wh.ingest("cytometry_statistics")
    assert wh.quarantine() == []
    assert len(wh.stats()) == 4


def test_unknown_columns_are_noted_as_ignored(wh):
    name = f"{STATS}/b.csv"
    wh.write(name, f"Sample,{LEUK_COUNT},Comment,Leukocytes | Median FSC-A\nA.fcs,100,looks fine,5000\n")
    report = wh.ingest("cytometry_statistics")
    reason = "not a '<gate path> | <statistic>' column of a known statistic: ignored"
    assert wh.quarantine() == [
        (name, 1, "Comment", reason, None, None),
        (name, 1, "Leukocytes | Median FSC-A", reason, None, None),
    ]
    assert wh.stats() == [(tube("A.fcs"), "Leukocytes", "Count", 100.0, 2)]
    assert report.rows == {"raw.cytometry_population_stats": 1}


def test_exact_duplicate_sample_row(wh):
    name = f"{STATS}/b.csv"
    wh.write(name, f"Sample,{LEUK_COUNT}\nA.fcs,100\nA.fcs,100\nB.fcs,200\n")
    wh.ingest("cytometry_statistics")
    assert wh.quarantine() == [(name, 3, None, "exact duplicate of row 2", None, None)]
    assert [(r[0], r[3], r[4]) for r in wh.stats()] == [(tube("A.fcs"), 100.0, 2), (tube("B.fcs"), 200.0, 4)]


def test_conflicting_sample_rows(wh):
    name = f"{STATS}/b.csv"
    wh.write(name, f"Sample,{LEUK_COUNT}\nA.fcs,100\nB.fcs,200\nA.fcs,101\n")
    wh.ingest("cytometry_statistics")
    reason = "conflicting rows for the same FCS file (rows 2, 4)"
    assert wh.quarantine() == [(name, 2, None, reason, None, None), (name, 4, None, reason, None, None)]
    assert [r[0] for r in wh.stats()] == [tube("B.fcs")]


def test_truncated_statistics_file(wh):
    name = f"{STATS}/b.csv"
    wh.write(name, f"Sample,{LEUK_COUNT},{LYMPH_FREQ},{CD3_ABS}\nA.fcs,100,25,812\nB.fcs,20")
    wh.ingest("cytometry_statistics")
    assert wh.quarantine() == [(name, 3, LYMPH_FREQ, "malformed row (missing columns): expected 4 columns", None, None)]
    assert {r[0] for r in wh.stats()} == {tube("A.fcs")}


def test_statistics_without_measures_or_sample_column_fail_alone(wh):
    wh.write(f"{STATS}/a_no_measures.csv", "Sample,Comment\nA.fcs,x\n")
    wh.write(f"{STATS}/b_good.csv", STATS_TEXT)
    wh.write(f"{STATS}/c_wrong_first.csv", f"{LEUK_COUNT},Sample\n100,A.fcs\n")
    with pytest.raises(IngestError) as raised:
        wh.ingest("cytometry_statistics")
    assert [f.file for f in raised.value.failures] == [f"{STATS}/a_no_measures.csv", f"{STATS}/c_wrong_first.csv"]
    assert f"{STATS}/a_no_measures.csv" in str(raised.value) and f"{STATS}/c_wrong_first.csv" in str(raised.value)
    assert wh.rows("SELECT file FROM raw.landed_files") == [(f"{STATS}/b_good.csv",)]
    assert wh.rows("SELECT count(*) FROM raw.cytometry_population_stats") == [(7,)]


def test_statistics_idempotent(wh):
    wh.write(f"{STATS}/b.csv", STATS_TEXT)
    wh.ingest("cytometry_statistics")
    again = wh.ingest("cytometry_statistics")
    assert again.files_loaded == [] and again.files_skipped == [f"{STATS}/b.csv"]
    assert wh.rows("SELECT count(*) FROM raw.cytometry_population_stats") == [(7,)]


def test_statistics_archive_copy(wh):
    path = wh.write(f"{STATS}/b.csv", STATS_TEXT)
    wh.ingest("cytometry_statistics")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (wh.archive / sha[:2] / f"{sha}.csv").read_bytes() == path.read_bytes()
    assert wh.rows("SELECT source, sha256, rows_loaded FROM raw.landed_files") == [("cytometry_statistics", sha, 7)]


def test_non_finite_count_is_quarantined(wh):
    wh.write(f"{STATS}/b.csv", f"Sample,{LEUK_COUNT}\nA.fcs,Infinity\nB.fcs,NaN\n")
    wh.ingest("cytometry_statistics")
    assert [(r[1], r[2]) for r in wh.quarantine()] == [(2, LEUK_COUNT), (3, LEUK_COUNT)]
    assert wh.stats() == []


# --- manifests ---------------------------------------------------------------------------------


def test_manifest_loaded_with_pseudonymised_patient(wh):
    name = f"{MANIFESTS}/SITE7/2024-03_CART-DETECT-v2.csv"
    wh.write(
        name,
        MANIFEST_HEADER
        + "A0000001_T1.fcs,SITE7-0042,peripheral blood,2024-03-16,D7,BD FACSLyric,CART-DETECT-v2,2024-03-17\n"
        + "A0000002_LK.fcs, SITE7-0043 ,leukapheresis,2024-01-05,APHERESIS,,LEUKAPHERESIS-v1,\n",
    )
    report = wh.ingest("cytometry_manifest")
    assert report.rows == {"raw.cytometry_samples": 2}
    assert wh.rows(
        "SELECT tube_key, patient_key, specimen, collection_date, timepoint, instrument, panel, "
        "acquisition_date, _source_row FROM raw.cytometry_samples ORDER BY _source_row"
    ) == [
        (
            tube("A0000001_T1.fcs"),
            key("SITE7-0042"),
            "peripheral blood",
            date(2024, 3, 16),
            "D7",
            "BD FACSLyric",
            "CART-DETECT-v2",
            date(2024, 3, 17),
            2,
        ),
        (
            tube("A0000002_LK.fcs"),
            key("SITE7-0043"),
            "leukapheresis",
            date(2024, 1, 5),
            "APHERESIS",
            None,
            "LEUKAPHERESIS-v1",
            None,
            3,
        ),
    ]
    assert key("SITE7-0042") == pseudonymise("SITE7-0042", site="site7")
    columns = [n for n, *_ in wh.rows("DESCRIBE raw.cytometry_samples")]
    assert "record_id" not in columns
    for table in ("cytometry_samples", "landed_files", "quarantine"):
        text = " ".join(str(v) for row in wh.rows(f"SELECT * FROM raw.{table}") for v in row)
        assert "SITE7-004" not in text


def test_manifest_values_outside_the_contract_are_quarantined(wh):
    name = f"{MANIFESTS}/b.csv"
    wh.write(
        name,
        MANIFEST_HEADER
        + "A1.fcs,SITE7-0042,peripheral blood,2024-03-16,D7,BD FACSLyric,CART-DETECT-v2,2024-03-17\n"  # 2
        + "A2.fcs,SITE7-0042,blood,2024-03-16,D7,BD FACSLyric,CART-DETECT-v2,2024-03-17\n"  # 3
        + "A3.fcs,SITE7-0042,bone marrow,2024-03-16,D8,BD FACSLyric,CART-DETECT-v2,2024-03-17\n"  # 4
        + "A4.fcs,SITE7-0043,bone marrow,16/03/2024,D28,BD FACSLyric,CART-DETECT-v2,2024-03-17\n"  # 5
        + "A5.fcs,,bone marrow,2024-03-16,D28,BD FACSLyric,CART-DETECT-v2,2024-03-17\n"  # 6
        + "A6.fcs,SITE7-0043,bone marrow,2024-03-16,,BD FACSLyric,CART-DETECT-v2,2024-03-17\n",
    )  # 7
    report = wh.ingest("cytometry_manifest")
    zelda, yorick = key("SITE7-0042"), key("SITE7-0043")
    timepoints = "D5, D7, D11, D14, D21, D28, M2, M3, M4, M6, M9, M12, M18, M24, APHERESIS, PRE_LD"
    assert wh.quarantine() == [
        (
            name,
            3,
            "specimen",
            "not one of the allowed codes (peripheral blood, bone marrow, leukapheresis)",
            "blood",
            zelda,
        ),
        (name, 4, "timepoint", f"not one of the allowed codes ({timepoints})", "D8", zelda),
        (name, 5, "collection_date", "not a date (YYYY-MM-DD)", "16/03/2024", yorick),
        (name, 6, "record_id", "required value is empty", None, None),
        (name, 7, "timepoint", "required value is empty", None, yorick),
    ]
    assert report.rows_quarantined == 5
    assert wh.rows("SELECT tube_key FROM raw.cytometry_samples") == [(tube("A1.fcs"),)]


def test_manifest_duplicate_fcs_file(wh):
    name = f"{MANIFESTS}/b.csv"
    row = "A1.fcs,SITE7-0042,peripheral blood,2024-03-16,D7,BD FACSLyric,CART-DETECT-v2,2024-03-17\n"
    wh.write(name, MANIFEST_HEADER + row + row + row.replace("D7", "D14"))
    wh.ingest("cytometry_manifest")
    reason = "conflicting rows for the same FCS file (rows 2, 3, 4)"
    assert [q[1:4] for q in wh.quarantine()] == [(2, None, reason), (3, None, reason), (4, None, reason)]
    assert wh.rows("SELECT count(*) FROM raw.cytometry_samples") == [(0,)]


def test_manifest_missing_column_fails_alone(wh):
    wh.write(f"{MANIFESTS}/a_bad.csv", "fcs_file,record_id,specimen\nA1.fcs,SITE7-0042,bone marrow\n")
    wh.write(
        f"{MANIFESTS}/b_good.csv",
        MANIFEST_HEADER + "A1.fcs,SITE7-0042,peripheral blood,2024-03-16,D7,BD FACSLyric,CART-DETECT-v2,2024-03-17\n",
    )
    with pytest.raises(IngestError) as raised:
        wh.ingest("cytometry_manifest")
    (failure,) = raised.value.failures
    assert (failure.file, failure.column) == (f"{MANIFESTS}/a_bad.csv", "collection_date")
    assert wh.rows("SELECT file FROM raw.landed_files") == [(f"{MANIFESTS}/b_good.csv",)]
    assert wh.rows("SELECT count(*) FROM raw.cytometry_samples") == [(1,)]


def test_sources_read_only_their_own_folder(wh):
    wh.write(f"{STATS}/b.csv", STATS_TEXT)
    wh.write(
        f"{MANIFESTS}/b.csv",
        MANIFEST_HEADER
        + "A0000001_T1.fcs,SITE7-0042,peripheral blood,2024-03-16,D7,BD FACSLyric,CART-DETECT-v2,2024-03-17\n",
    )
    manifests = wh.ingest("cytometry_manifest")
    statistics = wh.ingest("cytometry_statistics")
    assert manifests.files_loaded == [f"{MANIFESTS}/b.csv"]
    assert statistics.files_loaded == [f"{STATS}/b.csv"]
    assert wh.rows("SELECT source, file FROM raw.landed_files ORDER BY load_id") == [
        ("cytometry_manifest", f"{MANIFESTS}/b.csv"),
        ("cytometry_statistics", f"{STATS}/b.csv"),
    ]

"""Conflicts between current cytometry files are set aside and named, never resolved silently
(issue 22 item 7, issue 28 item 6). On the session demo, a lab sends again, under new names:
- a manifest that assigns one FCS file to another patient (a tube moving to another patient:
  before, the later manifest won and the tube's values belonged to the other patient, 0 checks
  failing);
- a statistics table that repeats one tube exactly (the same values twice: used once) and gives
  another tube's % CAR+ of CD3+ another number (before, the later table won without a word).
Both deliveries of each conflict leave the marts, the night still builds, and the data manager's
report names every file and row, with the record each manifest row names."""

from __future__ import annotations

import csv

import pandas as pd

from cartwh.contract.cytometry import HEADER_SEPARATOR
from cartwh.generate import lab_dialects
from cartwh.ingest.load import ingest_source
from cartwh.ingest.warehouse import connect
from cartwh.quality.data_manager_report import write_data_manager_report
from cartwh.quality.root_causes import CONFLICT, root_causes
from tests.conftest import hmac_tube_key, run_dbt

SECRET = "cartwh-test-secret-not-for-real-patients"  # tests/conftest.py's
MONTH = "HUVR/2024-07_CART-DETECT-v2"
PCT_CAR = f"Leukocytes/Lymphocytes/CD3+/CD19-CAR+{HEADER_SEPARATOR}Freq. of Parent"


def _rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write(path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def test_conflicting_current_files_are_set_aside_and_named(demo_copy, tmp_path):
    landing, warehouse = demo_copy / "landing", demo_copy / "warehouse.duckdb"
    manifest = _rows(landing / "cytometry" / "manifests" / f"{MONTH}.csv")
    moved, kept = manifest[0], manifest[1]
    other_record = next(r["record_id"] for r in manifest if r["record_id"] != moved["record_id"])
    _write(landing / "cytometry" / "manifests" / f"{MONTH}_resent.csv", [{**moved, "record_id": other_record}])
    statistics = pd.read_csv(landing / "cytometry" / "statistics" / f"{MONTH}.csv", dtype=str, keep_default_na=False)
    recount = statistics[statistics["Sample"].isin([moved["fcs_file"], kept["fcs_file"]])].copy()
    changed = recount["Sample"] == kept["fcs_file"]
    original = recount.loc[changed, PCT_CAR].item()
    recount.loc[changed, PCT_CAR] = str(round(float(original) + 1.5, 3))
    (landing / "cytometry" / "statistics" / f"{MONTH}_recount.csv").write_bytes(
        lab_dialects.render(recount, "flowjo_csv")
    )

    con = connect(warehouse)
    try:
        for source in ("cytometry_manifest", "cytometry_statistics"):
            report = ingest_source(con, landing, source, demo_copy / "archive")
            assert report.failures == [] and report.rows_quarantined == 0
    finally:
        con.close()
    done = run_dbt(warehouse, tmp_path, "build")
    assert done.returncode == 0, done.stdout[-3000:]  # a conflict blocks nothing
    assert "WARN 2 assert_cytometry_deliveries_agree" in done.stdout  # the tube's manifest and its % CAR+

    con = connect(warehouse)  # the report counts its open issues into quality.open_issues
    try:
        moved_tube, kept_tube = (hmac_tube_key(SECRET, r["fcs_file"], "huvr") for r in (moved, kept))
        in_marts = con.execute("SELECT count(*) FROM marts.car_t_kinetics WHERE tube_key = ?", [moved_tube]).fetchall()
        kinetics = con.execute(
            "SELECT pct_car_of_cd3, car_t_per_ul FROM marts.car_t_kinetics WHERE tube_key = ?", [kept_tube]
        ).fetchall()
        issues = [i for i in root_causes(con, demo_copy / "archive") if i.kind == CONFLICT]
        page = write_data_manager_report(con, tmp_path / "data_manager", demo_copy / "archive").read_text("utf-8")
    finally:
        con.close()
    assert in_marts == [(0,)]  # neither patient's
    ((pct_car, car_t_per_ul),) = kinetics
    assert pct_car is None and car_t_per_ul is not None  # only the value the files disagree on is set aside

    by_item = {i.field: i for i in issues}
    assert set(by_item) == {"fcs_file", PCT_CAR}
    tube = by_item["fcs_file"]
    assert "two current manifests describe one tube differently (patient_key)" in tube.title
    assert sorted((c.file, c.row) for c in tube.consequences) == [
        (f"cytometry/manifests/{MONTH}.csv", 2),
        (f"cytometry/manifests/{MONTH}_resent.csv", 2),
    ]
    assert sorted(c.what.rsplit("= ", 1)[1] for c in tube.consequences) == sorted(
        f"record {record} (site huvr)" for record in (moved["record_id"], other_record)
    )
    value = by_item[PCT_CAR]
    assert sorted((c.file, c.value) for c in value.consequences) == [
        (f"cytometry/statistics/{MONTH}.csv", str(float(original))),
        (f"cytometry/statistics/{MONTH}_recount.csv", str(round(float(original) + 1.5, 3))),
    ]
    assert f"cytometry/statistics/{MONTH}.csv" in value.action and f"{MONTH}_recount.csv" in value.action
    assert "set aside: two current exports disagree" in page
    assert all(f"{MONTH}{suffix}.csv" in page for suffix in ("", "_resent", "_recount"))

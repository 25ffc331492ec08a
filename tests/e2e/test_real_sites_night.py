"""Issue 22, done when: a landing folder holding several real sites' deliveries (REDCap UI downloads
as REDCap names them, an ODM export, FlowJo tables split across files with a control tube, one
malformed row) runs every night to a published warehouse
with every row accounted for, every problem in the data manager's report, and nothing synthetic in
it. No site is mapped onto the canonical dictionary yet, so the night also shows a programme
before its first mapping (issue 22, defect 6): empty marts, a study report that says "no patient
mapped yet" in every section, and quality pages naming each site that awaits its mapping and what
that mapping must cover. The sites are REDCapR's genuine projects (../shared/real-exports) and the ODM fixture written
in their shape (tests/fixtures/redcap_odm)."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.contract.site_mapping import must_cover
from tests.paths import FIXTURES
from tests.unit.ingest.test_redcap_names import _ui_download
from tests.unit.ingest.test_redcap_projects import REAL, expected_counts

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real-exports is not beside the clone")
ODM = FIXTURES / "redcap_odm" / "project.xml"
MALFORMED = "332-4,dagb,dd\n"  # a row cut short, as by a transfer that stopped
# The lab of site 1 (REDCapR's longitudinal project: records 100 and 220): its manifest and its
# FlowJo table-editor export as the lab writes them (first header cell empty, a comma ending every
# line, `<gate path> | <statistic>` columns, three significant figures, Mean and SD rows).
LAB = "cytometry/{kind}/LONGITUDINAL/2015-06_CART-DETECT-v1{part}.csv"
MANIFEST = """fcs_file,record_id,specimen,collection_date,timepoint,instrument,panel,acquisition_date
L0100_D7.fcs,100,peripheral blood,2015-06-09,D7,BD FACSCanto II,CART-DETECT-v1,2015-06-09
L0220_D7.fcs,220,peripheral blood,2015-06-11,D7,BD FACSCanto II,CART-DETECT-v1,2015-06-11
"""
# The table split as FlowJo users do: the counts in one table (with the panel's FMO control tube,
# which no manifest lists), the frequencies in another.
COUNTS = """,Leukocytes | Count,Leukocytes/Lymphocytes/CD3+ | Count,Leukocytes/Lymphocytes/CD3+/CAR+ | Count,
L0100_D7.fcs,50000,12100,605,
L0220_D7.fcs,48200,9870,120,
L0100_D7 FMO CAR.fcs,50100,12050,4,
Mean,49433,11340,243,
SD,1040,1290,315,
"""
FREQUENCIES = """,Leukocytes/Lymphocytes/CD3+/CAR+ | Freq. of Parent (%),
L0100_D7.fcs,5.00,
L0220_D7.fcs,1.22,
Mean,3.11,
SD,2.67,
"""
LAB_FILES = {
    LAB.format(kind="manifests", part=""): MANIFEST,
    LAB.format(kind="statistics", part="_counts"): COUNTS,
    LAB.format(kind="statistics", part="_frequencies"): FREQUENCIES,
}


def _deliveries(landing: Path) -> None:
    _ui_download(landing / "redcap" / "longitudinal")  # site 1: the UI's downloads, named by REDCap
    (landing / "redcap" / "cart_followup").mkdir(parents=True)  # site 2: REDCap's CDISC ODM export with data
    shutil.copy(ODM, landing / "redcap" / "cart_followup" / "CARTFollowup_CDISC_ODM_2024-11-05_1236.xml")
    dag = landing / "redcap" / "dag"  # site 3: a flat export with its dictionary, one row malformed
    dag.mkdir(parents=True)
    shutil.copy(REAL / "dag" / "dictionary.csv", dag / "dictionary.csv")
    (dag / "records.csv").write_text((REAL / "dag" / "data.csv").read_text(encoding="utf-8") + MALFORMED)
    for name, text in LAB_FILES.items():
        (landing / name).parent.mkdir(parents=True, exist_ok=True)
        (landing / name).write_text(text)


def _rows_per_site(con) -> Counter:
    counts = Counter()
    for (table,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' AND starts_with(table_name, 'redcap_site_')"
    ).fetchall():
        site = table.removeprefix("redcap_site_").split("__")[0]
        counts[site] += con.execute(f'SELECT count(*) FROM raw."{table}"').fetchall()[0][0]
    return counts


def test_real_sites_deliveries_publish_every_night_accounted_for(main_job, tmp_path, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "site_1")
    first, _ = main_job(tmp_path, prepare=_deliveries, generate=False)
    assert first.success
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        # every record of every file: read = landed + quarantined + skipped, per file
        ledger = con.execute(
            "SELECT file, records_read, rows_landed, rows_quarantined, records_skipped FROM raw.landed_files ORDER BY 1"
        ).fetchall()
        assert [f for f, *_ in ledger] == [
            *LAB_FILES,
            "redcap/cart_followup/CARTFollowup_CDISC_ODM_2024-11-05_1236.xml",
            "redcap/dag/records.csv",
            "redcap/longitudinal/REDCapRLongitudinal_DATA_2024-11-05_1236.csv",
        ]
        assert all(read == landed + quarantined + skipped for _, read, landed, quarantined, skipped in ledger)
        # the rows each site's files hold, counted independently (the csv module; the fixture by hand)
        dag = sum(expected_counts("dag").values())
        assert _rows_per_site(con) == {
            "longitudinal": sum(expected_counts("longitudinal").values()),
            "cart_followup": 3 + 4 + 2,
            "dag": dag,
        }
        assert con.execute("SELECT count(*) FROM raw.cytometry_samples").fetchall() == [(2,)]
        assert con.execute("SELECT count(*) FROM raw.cytometry_population_stats").fetchall() == [(8,)]  # no FMO
        # the two tables are one sample per tube: its counts and its frequency together
        assert con.execute(
            "SELECT count(*), count(leukocytes_events), count(pct_car_of_cd3) FROM intermediate.int__sample_populations"
        ).fetchall() == [(2, 2, 2)]
        assert con.execute("SELECT file, row, reason FROM raw.quarantine WHERE row > 1").fetchall() == [
            ("redcap/dag/records.csv", dag + 2, "malformed row (missing columns): expected 17 columns")
        ]
    finally:
        con.close()
    published = tmp_path / "published" / "warehouse.duckdb"
    with duckdb.connect(str(published), read_only=True) as copy:
        assert copy.execute("SELECT synthetic FROM ops.data_origin").fetchall() == [(False,)]
        assert copy.execute("SELECT count(*) FROM marts.patients").fetchall() == [(0,)]  # no site mapped yet
    report = (tmp_path / "reports" / "study_report.html").read_text(encoding="utf-8")
    assert report.count("no patient mapped yet") >= report.count("<h2") - 2  # all but data quality and methods
    assert "the records of site " in report and all(site in report for site in ("longitudinal", "cart_followup", "dag"))
    page = (tmp_path / "data_manager" / "data_manager.html").read_text(encoding="utf-8")
    assert f'redcap/dag/records.csv</td><td class="num">{dag + 2}' in page or f"<dd>{dag + 2}</dd>" in page
    assert "REDCap&#39;s list of the project&#39;s users" in page and "REDCap&#39;s logging" in page
    assert "Sites awaiting their mapping (3)" in page
    quality = (tmp_path / "reports" / "data_quality.html").read_text(encoding="utf-8")
    assert "Sites awaiting their mapping (3)" in quality
    for text in (page, quality):
        for site in ("longitudinal", "cart_followup", "dag"):
            assert f"<td>{site}</td>" in text
        for form, fields in must_cover(project_dictionary()):
            assert f"<li><b>{form}</b>: {', '.join(fields)}</li>" in text
    assert "a tube names a record whose site&#39;s project has no mapping" in page  # not "REDCap does not have"
    for output in (page, (tmp_path / "reports" / "study_report.html").read_text(encoding="utf-8")):
        assert "SYNTHETIC" not in output

    second, _ = main_job(tmp_path, generate=False)  # the next night: nothing new
    assert second.success
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.landed_files").fetchall() == [(6,)]

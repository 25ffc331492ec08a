"""Every shape REDCap writes records in (issue 22, defects 3 and 4): CDISC ODM with data, the EAV
export, PyCap's DataFrame CSV, and the labels export, refused before its header is misread.

The fixture project (tests/fixtures/redcap_odm/) is a longitudinal project with a repeating
instrument, written in the shapes REDCap writes: its dictionary download, its flat raw export
(`records.csv`), the same records as REDCap's CDISC ODM project file (`project.xml`, the shape of
../shared/real-exports/redcap/*/project.xml) and as the API's EAV export (`records_eav.csv`). The
genuine REDCapR projects (../shared/real-exports) are landed both ways too."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import Warehouse
from tests.paths import FIXTURES
from tests.unit.ingest.test_redcap_projects import PROJECTS, REAL, dictionary_forms, expected_counts, landed_counts

FIXTURE = FIXTURES / "redcap_odm"
SITE = "cart_followup"


@pytest.fixture
def warehouses(tmp_path, monkeypatch):
    """warehouses(name): a harness of its own (landing, archive, DuckDB) under tmp_path/name."""
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", "record-shapes-test-secret")
    monkeypatch.setenv("CARTWH_SITE", "site_1")
    opened = []

    def open_(name: str) -> Warehouse:
        opened.append(Warehouse(tmp_path / name))
        opened[-1].root.mkdir(exist_ok=True)
        return opened[-1]

    yield open_
    for wh in opened:
        wh.con.close()


def _land(wh: Warehouse, files: dict[str, Path], site: str = SITE) -> Path:
    folder = wh.landing / "redcap" / site
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        shutil.copy(source, folder / name)
    return folder


def _site_rows(wh: Warehouse, site: str = SITE) -> dict[str, list[tuple]]:
    """Every row of the site's raw tables, without where it came from (load id, file row)."""
    tables = [
        t
        for (t,) in wh.rows(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name LIKE ? ORDER BY 1",
            [f"redcap_site_{site}__%"],
        )
    ]
    return {t: wh.rows(f"SELECT * EXCLUDE (_load_id, _source_row) FROM raw.{t} ORDER BY ALL") for t in tables}


# --- CDISC ODM (defect 3) ----------------------------------------------------------------------


def test_an_odm_export_lands_the_rows_of_the_flat_export_of_the_same_project(warehouses):
    flat, odm = warehouses("flat"), warehouses("odm")
    _land(
        flat,
        {
            "dictionary.csv": FIXTURE / "dictionary.csv",
            "records.csv": FIXTURE / "records.csv",
            "project.xml": FIXTURE / "project.xml",
        },
    )
    _land(odm, {"CARTFollowup_2024-11-05_1236.REDCap.xml": FIXTURE / "project.xml"})
    flat_report, odm_report = flat.ingest(), odm.ingest()
    assert flat_report.failures == odm_report.failures == []
    assert odm_report.files_loaded == [f"redcap/{SITE}/CARTFollowup_2024-11-05_1236.REDCap.xml"]
    assert odm_report.records_read == flat_report.records_read == 10  # the header and 9 rows
    rows = _site_rows(odm)
    assert rows == _site_rows(flat)
    # counted from records.csv by hand: 3 enrolments, labs at (record, event, instance) 101 baseline 1
    # and 2, 101 day 28 1, 102 baseline 1; two responses
    assert {t.rsplit("__", 1)[1]: len(r) for t, r in rows.items()} == {"enrolment": 3, "labs": 4, "response": 2}
    assert odm.rows(
        f"SELECT redcap_event_name, redcap_repeat_instance, crp, platelets, lab_flag, lab_time::VARCHAR "
        f"FROM raw.redcap_site_{SITE}__labs ORDER BY _source_row"
    ) == [
        ("baseline_arm_1", 1, 12.5, 145, True, "2024-01-09 08:30:00"),
        ("baseline_arm_1", 2, 8.0, 150, False, "2024-01-11 09:00:00"),
        ("day_28_arm_1", 1, 1.2, 90, False, "2024-02-07 10:15:00"),
        ("baseline_arm_1", 1, 30.1, 60, True, "2024-01-31 14:00:00"),
    ]
    assert odm.rows(
        f"SELECT symptoms___1, symptoms___2, symptoms___99 FROM raw.redcap_site_{SITE}__enrolment ORDER BY _source_row"
    ) == [(True, True, False), (False, False, False), (False, False, True)]
    # identifiers stop at the door whatever the shape: the initials never land
    assert "AB" not in str(rows) and "initials" not in str(odm.rows(f"DESCRIBE raw.redcap_site_{SITE}__enrolment"))


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real-exports is not beside the clone")
@pytest.mark.parametrize("project", [p for p in PROJECTS if (REAL / p / "project.xml").exists()])
def test_every_genuine_odm_export_lands_the_rows_of_its_flat_export(warehouses, project):
    """REDCap's own project files, alone in their folder: their ItemDefs are the dictionary,
    their ClinicalData the records, landing the rows the flat data.csv holds per form, event and
    instance (counted with the csv module, tests/unit/ingest/test_redcap_projects.py)."""
    wh = warehouses(project)
    site = project.replace("-", "_")
    _land(wh, {"project.xml": REAL / project / "project.xml"}, site)
    report = wh.ingest()
    assert report.failures == [] and report.rows_quarantined == 0
    assert landed_counts(wh, site) == expected_counts(project)


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real-exports is not beside the clone")
def test_odm_beside_a_flat_export_is_read_for_its_metadata_only(warehouses):
    wh = warehouses("both")
    _land(
        wh,
        {
            "dictionary.csv": REAL / "dag" / "dictionary.csv",
            "data.csv": REAL / "dag" / "data.csv",
            "project.xml": REAL / "dag" / "project.xml",
        },
        "dag",
    )
    report = wh.ingest()
    assert report.files_loaded == ["redcap/dag/data.csv"]  # the same records are not read twice
    assert landed_counts(wh, "dag") == expected_counts("dag")


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real-exports is not beside the clone")
def test_records_without_a_usable_dictionary_say_exactly_that(warehouses):
    """A foreign project's records with no dictionary: the error says the dictionary is missing,
    instead of blaming the project's forms or columns."""
    wh = warehouses("no dictionary")
    _land(wh, {"data.csv": REAL / "repeating-instruments" / "data.csv"}, "ri")
    folder = _land(
        wh, {"data.csv": REAL / "longitudinal" / "data.csv", "event.csv": REAL / "longitudinal" / "event.csv"}, "long"
    )
    (folder / "instrument_designations.csv").write_text(  # a form the shipped project does not have
        "arm_num,unique_event_name,form\n1,dose_1_arm_1,patient_morale_questionnaire\n"
    )
    failures = {f.file: str(f) for f in wh.ingest(raise_on_failure=False).failures}
    assert set(failures) == {"redcap/ri/data.csv", "redcap/long/data.csv"}
    assert all("no usable data dictionary" in message for message in failures.values())
    assert "_DataDictionary_" in failures["redcap/ri/data.csv"]


# --- labels, PyCap, EAV (defect 4) -------------------------------------------------------------


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real-exports is not beside the clone")
def test_a_labels_export_is_refused_before_its_status_columns_read_as_one_column_twice(warehouses):
    """What REDCap's "CSV (labels)" writes: field labels as headers (every form's status column
    is "Complete?"), choice labels as values."""
    wh = warehouses("labels")
    project = REAL / "repeating-instruments"
    record_id, fields = dictionary_forms(project / "dictionary.csv")
    labels = {
        r["Variable / Field Name"]: r["Field Label"]
        for r in csv.DictReader(open(project / "dictionary.csv", encoding="utf-8-sig", newline=""))
    }
    data = list(csv.reader(open(project / "data.csv", encoding="utf-8-sig", newline="")))
    meta = {
        "record_id": "Record ID",
        "redcap_repeat_instrument": "Repeat Instrument",
        "redcap_repeat_instance": "Repeat Instance",
    }
    header = [meta.get(c) or ("Complete?" if c.endswith("_complete") else labels.get(c, c)) for c in data[0]]
    folder = _land(wh, {"dictionary.csv": project / "dictionary.csv"}, "ri")
    with open(folder / "REDCapRRepeatingInstruments_DATA_LABELS_2024-11-05_1236.csv", "w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *data[1:]])
    (failure,) = wh.ingest(raise_on_failure=False).failures
    assert (failure.row, failure.column) == (1, "Record ID")
    assert "a labels export" in str(failure) and "rawOrLabel=raw" in str(failure)
    assert "appears twice" not in str(failure)
    assert wh.rows("SELECT count(*) FROM raw.landed_files") == [(0,)]


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real-exports is not beside the clone")
@pytest.mark.parametrize("project", ["repeating-instruments", "longitudinal"])
def test_a_pycap_data_frame_written_to_csv_lands_every_form(warehouses, project):
    """PyCap's `export_records(format_type="df")` is a pandas DataFrame indexed by record (and
    event); `to_csv` writes every integer column with a gap as floats (110.0): integer-validated
    fields, sliders, codes. Written here by pandas itself."""
    wh = warehouses(project)
    site = project.replace("-", "_")
    folder = _land(wh, {"dictionary.csv": REAL / project / "dictionary.csv"}, site)
    for name in ("event.csv", "arm.csv", "project.xml"):
        if (REAL / project / name).exists():
            shutil.copy(REAL / project / name, folder / name)
    frame = pd.read_csv(REAL / project / "data.csv")
    index = [c for c in (frame.columns[0], "redcap_event_name") if c in frame.columns]
    frame.set_index(index).to_csv(folder / "records_df.csv")
    written = (folder / "records_df.csv").read_text()
    assert ".0," in written or ".0\n" in written  # the floats pandas writes
    report = wh.ingest()
    assert report.failures == [] and report.rows_quarantined == 0
    assert landed_counts(wh, site) == expected_counts(project)


def test_an_eav_export_lands_the_rows_of_the_flat_export(warehouses):
    flat, eav = warehouses("flat"), warehouses("eav")
    setup = {"dictionary.csv": FIXTURE / "dictionary.csv", "project.xml": FIXTURE / "project.xml"}
    _land(flat, setup | {"records.csv": FIXTURE / "records.csv"})
    _land(eav, setup | {"records_eav.csv": FIXTURE / "records_eav.csv"})
    assert flat.ingest().failures == eav.ingest().failures == []
    assert _site_rows(eav) == _site_rows(flat)

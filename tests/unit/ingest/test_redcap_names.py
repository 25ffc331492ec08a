"""REDCap's own download names (issue 22, defect 2): a site downloads its project from the UI,
and the files keep the names REDCap gives them, `<Project>_<Kind>_<date>.csv` in either case.
Metadata files are read as the project's metadata; the downloads cartwh does not use (users,
roles, data access group assignments, logging) are reported as what they are, never read as
records. The project is REDCapR's genuine longitudinal test project (../shared/real-exports)."""

from __future__ import annotations

import csv
import io
import shutil
import xml.etree.ElementTree as ElementTree

import pytest

from cartwh.warehouse.unrecognised_files import summary
from tests.conftest import Warehouse
from tests.unit.ingest.test_redcap_projects import REAL, expected_counts, landed_counts

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real-exports is not beside the clone")
_ODM, _REDCAP = "{http://www.cdisc.org/ns/odm/v1.3}", "{https://projectredcap.org}"


def _designations() -> str:
    """The UI's instrument designations download (arm_num, unique_event_name, form) of the
    project, as REDCap's Designate Instruments page writes it, from its project.xml."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["arm_num", "unique_event_name", "form"])
    for event in ElementTree.parse(REAL / "longitudinal" / "project.xml").iter(_ODM + "StudyEventDef"):
        for ref in event.iter(_ODM + "FormRef"):
            writer.writerow(
                [event.get(_REDCAP + "ArmNum"), event.get(_REDCAP + "UniqueEventName"), ref.get(_REDCAP + "FormName")]
            )
    return out.getvalue()


def _ui_download(folder, upper: bool = False) -> None:
    """The project as a data manager downloads it from REDCap's UI, names as REDCap gives them."""
    project = "REDCapRLongitudinal"
    name = (lambda n: n.upper()) if upper else (lambda n: n)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REAL / "longitudinal" / "data.csv", folder / name(f"{project}_DATA_2024-11-05_1236.csv"))
    shutil.copy(REAL / "longitudinal" / "dictionary.csv", folder / name(f"{project}_DataDictionary_2024-11-05.csv"))
    shutil.copy(REAL / "longitudinal" / "event.csv", folder / name(f"{project}_Events_2024-11-05.csv"))
    shutil.copy(REAL / "longitudinal" / "arm.csv", folder / name(f"{project}_Arms_2024-11-05.csv"))
    (folder / name(f"{project}_InstrumentDesignations_2024-11-05.csv")).write_text(_designations())
    (folder / name(f"{project}_DAGs_2024-11-05.csv")).write_text(
        "data_access_group_name,unique_group_name,data_access_group_id\nClinic A,clinic_a,101\n"
    )
    (folder / name(f"{project}_Users_2024-11-05.csv")).write_text(
        "username,email,firstname,lastname,expiration,data_access_group\njdoe,jdoe@example.org,Jane,Doe,,\n"
    )
    (folder / name(f"{project}_UserDAGAssignments_2024-11-05.csv")).write_text(
        "username,redcap_data_access_group\njdoe,clinic_a\n"
    )
    (folder / name(f"{project}_Logging_2024-11-05_1240.csv")).write_text(
        '"Time / Date",Username,Action,"List of Data Changes OR Fields Exported"\n'
        '"2024-11-05 12:36",jdoe,"Data export","study_id, first_name"\n'
    )


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "site_1")
    return open_warehouse(Warehouse, "real-exports-test-secret")


@pytest.mark.parametrize("upper", [False, True], ids=["as REDCap names them", "upper case"])
def test_ui_downloads_land_as_a_longitudinal_project(wh, upper):
    _ui_download(wh.landing / "redcap" / "longitudinal", upper)
    report = wh.ingest()
    assert report.failures == [] and report.rows_quarantined == 0
    assert report.files_loaded == [next(f for f in report.files_loaded if "_DATA_" in f.upper())]  # the records only
    assert landed_counts(wh, "longitudinal") == expected_counts("longitudinal")
    # keyed by event: the project was read as longitudinal, from the UI's events and designations
    assert wh.rows("SELECT count(DISTINCT redcap_event_name) FROM raw.redcap_site_longitudinal__demographics") == [(2,)]


def test_downloads_cartwh_does_not_use_are_reported_not_read(wh):
    _ui_download(wh.landing / "redcap" / "longitudinal")
    report = wh.ingest()
    kinds = sorted(f.kind for f in report.files_unrecognised)
    assert kinds == [
        "REDCap's assignments of users to data access groups",
        "REDCap's list of the project's users",
        "REDCap's logging (the project's audit trail)",
    ]
    assert all("cartwh does not use it" in f.advice for f in report.files_unrecognised)
    assert "3 file(s)" in summary(report.files_unrecognised)
    staff = wh.rows("SELECT * FROM raw.quarantine") + wh.rows("SELECT * FROM raw.landed_files")
    assert "jdoe" not in str(staff) and "Users" not in str(staff)

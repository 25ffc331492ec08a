"""A source that loses everything stops the night with the likely cause (expectations/source_health.py,
`likely_cause`, `nothing_recognised`), on hand-written exports in the shapes the tools write when
they are exported wrongly. Each is blocking through the one source-health check."""

from __future__ import annotations

import shutil

import pytest

from cartwh.contract.redcap import DICTIONARY_PATH
from expectations.source_health import source_health, thresholds
from tests.unit.ingest.test_ingest_cytometry import STATS, STATS_TEXT
from tests.unit.ingest.test_ingest_redcap import GOOD_ROWS, HEADER, YORICK_BASE, ZELDA_BASE, RedcapWarehouse

KEYS = {"record_id", "redcap_repeat_instrument", "redcap_repeat_instance", "redcap_data_access_group"}


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "site_7")
    return open_warehouse(RedcapWarehouse, "likely-cause-secret")


def _finding(wh, source="redcap"):
    report = wh.ingest(source, raise_on_failure=False)
    assert report.failures == []
    (finding,) = source_health(wh.con, thresholds())
    return finding


def test_a_longitudinal_export_without_its_events(wh):
    # REDCap's longitudinal flat export: one row per record and event, the event in redcap_event_name.
    header = ["record_id", "redcap_event_name", *HEADER[3:]]
    rows = [
        dict({k: v for k, v in base.items() if k in header}, redcap_event_name=event)
        for base in (ZELDA_BASE, YORICK_BASE)
        for event in ("screening_arm_1", "day_28_arm_1")
    ]
    wh.export("long.csv", rows, header)
    finding = _finding(wh)
    assert (finding.check_name, finding.observed) == ("quarantined_share", 1.0)
    assert finding.message.startswith("redcap/long.csv: 4 of its 4 data rows quarantined (100 %, limit 50 %)")
    assert (
        "Likely cause: a longitudinal REDCap export (one row per record and event, `redcap_event_name`) "
        "loaded without its events" in finding.message
    )
    assert "filled in more than one event" in finding.message  # the loader's own reason, quoted


def test_a_labels_export_is_refused_whole_with_what_to_do(wh):
    """A labels export is recognised by the loader and refused (nothing of it lands), with the
    action in the error; source health has nothing to add."""
    labels = {
        "sex": {"1": "Male", "2": "Female"},
        "tp53_mutated": {"0": "No", "1": "Yes"},
        "prior_hsct": {"0": "No", "1": "Yes"},
        "bm_mrd_status": {"2": "Negative"},
        "crp_unit": {"1": "mg/dL", "2": "mg/L"},
        "redcap_repeat_instrument": {"marrow_assessment": "Marrow Assessment", "laboratory": "Laboratory"},
    }
    rows = [{k: labels.get(k, {}).get(v, v) for k, v in row.items()} for row in GOOD_ROWS]
    wh.export("labels.csv", rows)
    report = wh.ingest("redcap", raise_on_failure=False)
    (failure,) = report.failures
    assert "a labels export (choice labels instead of raw codes): refused, nothing loaded" in str(failure)
    assert "(API: rawOrLabel=raw)" in str(failure)
    assert wh.rows("SELECT count(*) FROM raw.redcap_demographics") == [(0,)]


def test_codes_written_as_decimals_by_a_data_frame_are_read_as_codes(wh):
    """PyCap's DataFrame written to CSV writes integer codes as 2.0: the loader reads them as the
    codes they are (cartwh/ingest/redcap_loader.py), so nothing is lost and nothing blocks."""
    coded = {"sex", "tp53_mutated", "prior_hsct", "bm_mrd_status", "crp_unit", "crs_grade"}
    rows = [{k: f"{v}.0" if k in coded and v else v for k, v in row.items()} for row in GOOD_ROWS]
    wh.export("pycap.csv", rows)
    report = wh.ingest("redcap", raise_on_failure=False)
    assert report.failures == [] and report.rows_quarantined == 0
    assert source_health(wh.con, thresholds()) == []


def test_dates_in_another_format(wh):
    def day_month_year(value: str) -> str:
        year, month, day = value.split("-")
        return f"{day}/{month}/{year}"

    rows = [{k: day_month_year(v) if k.endswith("_date") and v else v for k, v in row.items()} for row in GOOD_ROWS]
    wh.export("dates.csv", rows)
    finding = _finding(wh)
    assert "Likely cause: dates in another format (e.g. DD/MM/YYYY, or with a time)" in finding.message


def test_rows_with_another_delimiter_than_the_header(wh):
    # A lab's spreadsheet saved with a comma header row pasted over semicolon-separated rows.
    lines = STATS_TEXT.splitlines()
    wh.landing.joinpath(STATS).mkdir(parents=True)
    body = [line.replace(",", ";") for line in lines[1:]]
    wh.landing.joinpath(STATS, "batch.csv").write_text("\n".join([lines[0], *body]) + "\n")
    finding = _finding(wh, "cytometry_statistics")
    # The Mean and SD rows, one cell each once split at commas, are quarantined with the tubes.
    assert finding.message.startswith(f"{STATS}/batch.csv: 4 of its 4 data rows quarantined (100 %")
    assert "Likely cause: the rows do not split into the header's columns: another delimiter" in finding.message


def test_a_site_project_with_its_own_field_names_and_no_dictionary_is_refused_as_such(wh):
    """Records of another project landed without its dictionary (issue 22): read with the shipped
    dictionary they would land nothing, so they are refused, saying the dictionary is missing."""
    header = [c if c in KEYS else f"s_{c}" for c in HEADER]
    rows = [{(k if k in KEYS else f"s_{k}"): v for k, v in row.items()} for row in (ZELDA_BASE, YORICK_BASE)]
    wh.export("own_names.csv", rows, header)
    (failure,) = wh.ingest("redcap", raise_on_failure=False).failures
    unknown = len(HEADER) - len(KEYS)
    assert f"{unknown} of its {unknown} columns are not fields of the shipped project (s_" in str(failure)
    assert "no usable data dictionary" in str(failure) and "_DataDictionary_" in str(failure)


def test_a_site_project_with_its_own_field_names_lands_nothing(wh):
    """With a dictionary that is not the export's (a site's own field names in the export, the
    shipped project's dictionary landed beside it), nothing lands, and source health says why."""
    header = [c if c in KEYS else f"s_{c}" for c in HEADER]
    rows = [{(k if k in KEYS else f"s_{k}"): v for k, v in row.items()} for row in (ZELDA_BASE, YORICK_BASE)]
    wh.export("own_names.csv", rows, header)
    shutil.copy(DICTIONARY_PATH, wh.landing / "redcap" / "dictionary.csv")
    finding = _finding(wh)
    assert finding.check_name == "landed_nothing"
    assert finding.message.startswith(
        f"redcap/own_names.csv: 2 data row(s) in the export, none landed and none "
        f"quarantined; {len(HEADER) - len(KEYS)} column(s) ignored as unknown"
    )
    assert (
        "Likely cause: its columns are not the dictionary's field names: a site project with its own field "
        "names needs its mapping" in finding.message
    )


def test_a_source_folder_holding_only_files_it_does_not_read(wh):
    (wh.landing / STATS).mkdir(parents=True)
    (wh.landing / STATS / "batch.xls").write_bytes(b"\xd0\xcf\x11\xe0")  # an OLE2 spreadsheet's signature
    (wh.landing / STATS / "gating.pdf").write_bytes(b"%PDF-1.4")  # (a tab-separated .txt is FlowJo's table: read)
    finding = _finding(wh, "cytometry_statistics")
    assert (finding.check_name, finding.subject, finding.observed) == (
        "nothing_recognised",
        "source cytometry_statistics",
        2,
    )
    assert finding.message.startswith(
        "source cytometry_statistics: its folder holds 2 file(s) and none is an export "
        "it reads (.pdf, .xls): nothing of this source landed"
    )


def test_a_stray_file_beside_exports_that_landed_does_not_block(wh):
    (wh.landing / STATS).mkdir(parents=True)
    (wh.landing / STATS / "batch.csv").write_text(STATS_TEXT)
    (wh.landing / STATS / "gating.pdf").write_bytes(b"%PDF-1.4")
    report = wh.ingest("cytometry_statistics")
    assert [f.file for f in report.files_unrecognised] == [f"{STATS}/gating.pdf"]
    assert source_health(wh.con, thresholds()) == []

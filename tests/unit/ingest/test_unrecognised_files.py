"""Unknown files are never ignored (cartwh/ingest/unrecognised.py): every file of a source's folder
is listed, and one no source accepts is reported with what it is and what to do."""

from __future__ import annotations

import pytest

from cartwh.warehouse.unrecognised_files import summary, unrecognised_files
from tests.unit.ingest.test_ingest_cytometry import SECRET, STATS, STATS_TEXT, CytometryWarehouse


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "SITE7")
    return open_warehouse(CytometryWarehouse, SECRET)


def test_every_file_that_is_not_an_export_is_reported_with_what_to_do(wh):
    wh.write(f"{STATS}/SITE7/batch1.csv", STATS_TEXT)
    wh.write(f"{STATS}/SITE7/batch2.CSV", STATS_TEXT.replace("A000000", "B000000"))  # upper case: an export
    wh.write(f"{STATS}/SITE7/batch3.xls", "not really a spreadsheet")
    wh.write(f"{STATS}/SITE7/gating.pdf", "%PDF-1.4 notes\n")  # (.txt is FlowJo's other table format here)
    wh.write(f"{STATS}/README", "x")
    wh.write(f"{STATS}/SITE7/.batch4.csv.123.partial", STATS_TEXT)  # a writer's hidden temporary file
    wh.write(f"{STATS}/.sync/state.db", "x")  # a hidden folder
    report = wh.ingest()
    assert sorted(report.files_loaded) == [f"{STATS}/SITE7/batch1.csv", f"{STATS}/SITE7/batch2.CSV"]
    assert [(f.file, f.kind, f.bytes) for f in report.files_unrecognised] == [
        (f"{STATS}/README", "no extension", 1),
        (f"{STATS}/SITE7/batch3.xls", ".xls", 24),
        (f"{STATS}/SITE7/gating.pdf", ".pdf", 15),
    ]
    xls = report.files_unrecognised[1]
    assert xls.message == (
        f"{STATS}/SITE7/batch3.xls: not a recognised export (.xls): a spreadsheet, not a CSV "
        "export: export CSV instead (REDCap: Data Exports, CSV raw; FlowJo: the table editor's "
        "Save as CSV), or save the sheet as CSV (UTF-8)"
    )
    assert "a document, not an export: keep it outside the landing folder" in report.files_unrecognised[2].advice
    # Kept for the data manager's report; the run summary names folders and kinds, never files.
    assert [f.file for f in unrecognised_files(wh.con)] == [f.file for f in report.files_unrecognised]
    assert summary(report.files_unrecognised) == (
        f"3 file(s) in the landing folder are not recognised exports and were not read (1 no extension in {STATS}/, "
        f"1 .pdf in {STATS}/SITE7/, 1 .xls in {STATS}/SITE7/): what each is and what to do is in the data manager's "
        "report"
    )


def test_the_list_follows_the_landing_folder_and_keeps_when_a_file_was_first_seen(wh):
    wh.write(f"{STATS}/SITE7/batch1.csv", STATS_TEXT)
    xls = wh.write(f"{STATS}/SITE7/batch3.xls", "x")
    wh.ingest()
    [(first_seen,)] = wh.rows("SELECT first_seen FROM raw.unrecognised_files")
    wh.write(f"{STATS}/SITE7/other.pdf", "x")
    wh.ingest()
    assert wh.rows("SELECT file, first_seen = ? FROM raw.unrecognised_files ORDER BY file", [first_seen]) == [
        (f"{STATS}/SITE7/batch3.xls", True),
        (f"{STATS}/SITE7/other.pdf", False),
    ]
    xls.unlink()
    (wh.landing / f"{STATS}/SITE7/other.pdf").unlink()
    assert wh.ingest().files_unrecognised == []
    assert wh.rows("SELECT count(*) FROM raw.unrecognised_files") == [(0,)]


def test_a_file_another_source_reads_in_the_same_folder_is_not_reported(tmp_path, monkeypatch):
    """A source's folder may hold another source's files (REDCap's deletion reports beside its
    record exports): only a file that no source reading it accepts is reported."""
    from cartwh.ingest.load import SOURCES
    from cartwh.ingest.loader import Loader

    class Notes(Loader):
        name, folder = "notes", "cytometry/statistics/SITE7"

        def load(self, con, files):
            raise AssertionError("not called")

        def create_tables(self, con):
            pass

        def accepts(self, path):
            return path.suffix == ".pdf"

    monkeypatch.setitem(SOURCES, "notes", Notes())
    from cartwh.ingest.load import ingest_source
    from cartwh.ingest.warehouse import connect

    landing = tmp_path / "landing"
    (landing / STATS / "SITE7").mkdir(parents=True)
    (landing / STATS / "SITE7" / "gating.pdf").write_text("x")
    (landing / STATS / "SITE7" / "sheet.xls").write_text("x")
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", SECRET)
    con = connect(tmp_path / "w.duckdb")
    report = ingest_source(con, landing, "cytometry_statistics", tmp_path / "archive")
    assert [f.file for f in report.files_unrecognised] == [f"{STATS}/SITE7/sheet.xls"]
    con.close()


def test_the_reports_list_the_files_not_read(wh, tmp_path):
    """The analysts' page counts them by folder and kind; the names (which can hold an MRN), what
    each is and what to do are in the data manager's restricted report only."""
    from cartwh.quality.data_manager_report import write_data_manager_report
    from cartwh.quality.quality_report import write_quality_report

    wh.write(f"{STATS}/SITE7/batch1.csv", STATS_TEXT)
    wh.write(f"{STATS}/SITE7/batch3.xlsx", "x")
    wh.ingest()
    page = write_quality_report(wh.con, tmp_path / "reports", tmp_path / "gx").read_text()
    assert "Files not read: not recognised exports (1)" in page
    assert f'<td>{STATS}/SITE7</td><td>.xlsx</td><td class="num">1</td>' in page and "batch3" not in page
    restricted = write_data_manager_report(wh.con, tmp_path / "dm", tmp_path / "archive").read_text()
    assert "Files not read: not recognised exports (1)" in restricted
    assert (
        f"<td>{STATS}/SITE7/batch3.xlsx</td><td>.xlsx</td>" in restricted
        and "a spreadsheet, not a CSV export" in restricted
    )

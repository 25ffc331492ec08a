"""Cytometry statistics as the lab's software and PCs really write them (cartwh/ingest/dialects.py,
csv_reader's lab exports): FlowJo's table editor CSV and TXT, Excel on a Spanish or German PC,
UTF-16 "Unicode text", a UTF-8 byte-order mark. The fixtures in tests/fixtures/cytometry/ are
written by hand in those shapes; the expected values are read off the files by eye. What dbt's
precision check makes of them: tests/e2e/test_ingest_cytometry_dialects.py."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartwh.ingest.dialects import Declared, Dialect, detect, number_normaliser
from cartwh.ingest.errors import ExportError, IngestError
from tests.conftest import hmac_tube_key
from tests.paths import FIXTURES
from tests.unit.ingest.test_ingest_cytometry import SECRET, STATS, CytometryWarehouse

CYTOMETRY = FIXTURES / "cytometry"
CAR = "Leukocytes/Lymphocytes/CD3+/CD19-CAR+"
CD3 = "Leukocytes/Lymphocytes/CD3+"
LYMPH = "Leukocytes/Lymphocytes"


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "SITE7")
    return open_warehouse(CytometryWarehouse, SECRET)


def land(wh, fixture: str, name: str | None = None) -> str:
    target = wh.landing / STATS / "SITE7" / (name or fixture)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes((CYTOMETRY / fixture).read_bytes())
    return target.relative_to(wh.landing).as_posix()


def loaded(wh) -> list[tuple]:
    return wh.rows(
        "SELECT tube_key, gate_path, statistic, value, significant_figures, _source_row "
        "FROM raw.cytometry_population_stats ORDER BY _source_row, gate_path, statistic"
    )


def tube(name: str) -> str:
    return hmac_tube_key(SECRET, name, "site7")


# --- detection, on bytes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("flowjo_table_editor.csv", Dialect("utf-8", ",", ".")),
        ("flowjo_table_editor.txt", Dialect("utf-8", "\t", ".")),
        ("excel_es_semicolon_cp1252.csv", Dialect("cp1252", ";", ",")),
        ("excel_unicode_text_utf16.txt", Dialect("utf-16", "\t", ",")),
        ("utf8_bom.csv", Dialect("utf-8-sig", ",", ".")),
    ],
)
def test_dialect_detected_from_the_file(fixture, expected):
    dialect, text = detect((CYTOMETRY / fixture).read_bytes(), fixture)
    assert dialect == expected
    assert not text.startswith("\ufeff")


def test_a_decimal_mark_that_cannot_be_told_fails_naming_the_row():
    with pytest.raises(ExportError) as failed:
        detect((CYTOMETRY / "ambiguous_decimal.csv").read_bytes(), "x.csv")
    assert failed.value.row == 2
    assert "cannot tell the decimal mark: '1.234' could be a decimal or a thousands separator" in str(failed.value)
    # a lab's declaration settles it
    dialect, _ = detect((CYTOMETRY / "ambiguous_decimal.csv").read_bytes(), "x.csv", Declared(decimal=","))
    assert dialect == Dialect("utf-8", ";", ",")


def test_both_decimal_marks_in_one_file_fail():
    with pytest.raises(ExportError, match=r"both decimal marks: '2.5' in row 2 .* '3,5' in row 3"):
        detect(b"Sample;A | Count;B | Freq. of Parent\nx.fcs;1;2.5\ny.fcs;2;3,5\n", "x.csv")


def test_a_malformed_rows_cells_do_not_decide_the_decimal_mark(wh):
    """Found by the accounting property test: a row with a cell too many, that cell `"0,"`, failed
    the whole file for 'both decimal marks'. The row is quarantined as malformed; its cells are no
    column's, so they say nothing of how the file writes numbers, and the other rows load."""
    written = b'Sample,Leukocytes | Count,Leukocytes/Lymphocytes | Freq. of Parent\nT2.fcs,20,2.5\nT3.fcs,30,3.5,"0,"\n'
    assert detect(written, "s.csv")[0] == Dialect("utf-8", ",", ".")
    target = wh.landing / STATS / "SITE7" / "s.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(written)
    report = wh.ingest()
    assert (report.records_read, report.rows_landed, report.rows_quarantined) == (3, 1, 1)
    assert [(row, reason) for _, row, _, reason, _, _ in wh.quarantine()] == [
        (3, "malformed row (too many columns): expected 3 columns")
    ]


def test_a_delimiter_that_cannot_be_told_fails():
    with pytest.raises(ExportError, match="cannot tell the delimiter: no comma, semicolon or tab"):
        detect(b"Sample\nx.fcs\n", "x.csv")
    with pytest.raises(ExportError, match="comma and semicolon both split"):
        detect(b"Sample,a;b\nx.fcs,1;2\n", "x.csv")


def test_undefined_windows_1252_bytes_fail_with_their_row():
    with pytest.raises(ExportError, match=r"not Windows-1252 or UTF-8 text") as failed:
        detect(b"Sample,A | Count\nx.fcs,1\ny\x81.fcs,2\n", "x.csv")
    assert failed.value.row == 3


@pytest.mark.parametrize(
    ("dialect", "written", "read"),
    [
        (Dialect("cp1252", ";", ","), "1.812,25", "1812.25"),
        (Dialect("cp1252", ";", ","), "0,060", "0.060"),  # trailing zeros kept: they are precision
        (Dialect("cp1252", ";", ","), "4,43E+05", "4.43E+05"),
        (Dialect("cp1252", ";", ","), "1.234.567", "1234567"),
        (Dialect("cp1252", ";", ","), "A0001.fcs", "A0001.fcs"),  # not a number: as written
        (Dialect("cp1252", ";", ","), "3.5", "3.5"),  # not a number in this dialect: checked as written, then refused
        (Dialect("utf-8", ";", "."), "1,234.5", "1234.5"),
        (Dialect("utf-8", ",", "."), "1,5", "1,5"),
    ],
)
def test_numbers_rewritten_digit_for_digit(dialect, written, read):
    assert number_normaliser(dialect)(written) == read


# --- ingestion of each fixture ------------------------------------------------------------------


def test_flowjo_table_editor_csv_as_written(wh):
    name = land(wh, "flowjo_table_editor.csv")
    report = wh.ingest()
    assert report.files_loaded == [name] and report.rows_quarantined == 0
    assert report.records_skipped == 3  # header, Mean, SD
    a, b = tube("A0000001_T1.fcs"), tube("A0000002_T1.fcs")
    assert loaded(wh) == [
        (a, "Leukocytes", "Count", 443000.0, 3, 2),  # 4.43E+05: three figures written
        (a, LYMPH, "Freq. of Parent", 25.5, 3, 2),
        (a, CD3, "Freq. of Parent", 61.2, 3, 2),
        (a, CAR, "Count", 1250.0, None, 2),  # an integer written in full: exact
        (a, CAR, "Freq. of Total", 0.282, 3, 2),
        (b, "Leukocytes", "Count", 50000.0, None, 3),
        (b, LYMPH, "Freq. of Parent", 31.04, 4, 3),
        (b, CD3, "Freq. of Parent", 58.7, 3, 3),
        (b, CAR, "Count", 30.0, None, 3),
        (b, CAR, "Freq. of Total", 0.06, 2, 3),  # 6.0E-02
    ]
    # the statistic the model does not use is reported once, at row 1, under its own name
    assert wh.quarantine() == [
        (
            name,
            1,
            f"{CD3} | Median : CD3 FITC-A",
            "not a '<gate path> | <statistic>' column of a known statistic: ignored",
            None,
            None,
        )
    ]


def test_flowjo_table_editor_txt_and_upper_case_extension(wh):
    txt = land(wh, "flowjo_table_editor.txt")
    upper = land(wh, "flowjo_table_editor.csv", "BATCH2.CSV")
    report = wh.ingest()
    assert sorted(report.files_loaded) == sorted([txt, upper])
    assert wh.rows(
        "SELECT value FROM raw.cytometry_population_stats s JOIN raw.landed_files l ON l.load_id = "
        f"s._load_id WHERE l.file = '{txt}' AND gate_path = '{CAR}' ORDER BY _source_row"
    ) == [(1250.0,), (30.0,)]


@pytest.mark.parametrize("fixture", ["excel_es_semicolon_cp1252.csv", "excel_unicode_text_utf16.txt"])
def test_spanish_excel_decimal_commas_and_thousands(wh, fixture):
    land(wh, fixture)
    report = wh.ingest()
    assert report.rows_quarantined == 0 and report.records_skipped == 2  # header, Mean
    a, b = tube("A0000001_T1.fcs"), tube("A0000002_T1.fcs")
    assert loaded(wh) == [
        (a, "Leukocytes", "Count", 443012.0, None, 2),  # 443.012: '.' groups thousands
        (a, LYMPH, "Freq. of Parent", 25.5, 3, 2),
        (a, CD3, "Absolute Count (cells/µL)", 1812.25, 6, 2),  # the µ of a Windows-1252 file
        (a, CAR, "Freq. of Total", 0.282, 3, 2),
        (b, "Leukocytes", "Count", 50000.0, None, 3),
        (b, LYMPH, "Freq. of Parent", 31.04, 4, 3),
        (b, CD3, "Absolute Count (cells/µL)", 700.0, None, 3),
        (b, CAR, "Freq. of Total", 0.06, 1, 3),
    ]


def test_utf8_bom(wh):
    land(wh, "utf8_bom.csv")
    wh.ingest()
    assert loaded(wh) == [
        (tube("A0000001_T1.fcs"), "Leukocytes", "Count", 443012.0, None, 2),
        (tube("A0000001_T1.fcs"), CD3, "Absolute Count (cells/µL)", 1812.25, 6, 2),
    ]


def test_ambiguous_file_fails_alone_and_a_lab_declaration_loads_it(wh, monkeypatch):
    name = land(wh, "ambiguous_decimal.csv")
    land(wh, "utf8_bom.csv")
    with pytest.raises(IngestError, match=r"ambiguous_decimal.csv \(row 2\): cannot tell the decimal mark"):
        wh.ingest()
    assert wh.rows("SELECT file FROM raw.landed_files") == [(f"{STATS}/SITE7/utf8_bom.csv",)]
    monkeypatch.setattr("cartwh.ingest.dialects.lab_dialects", lambda: {"SITE7": Declared(decimal=",")})
    report = wh.ingest()
    assert report.files_loaded == [name]
    # declared decimal commas: '.' groups thousands, so 1.234 is 1234 events and 12.500 % is 12500 %
    assert wh.rows(
        "SELECT statistic, value FROM raw.cytometry_population_stats s JOIN raw.landed_files l "
        f"ON l.load_id = s._load_id WHERE l.file = '{name}' ORDER BY 1"
    ) == [("Count", 1234.0), ("Freq. of Parent", 25.0)]
    assert [(r[1], r[3]) for r in wh.quarantine() if r[0] == name] == [(3, "above the maximum 100.0")]


# --- per-tube long layouts ----------------------------------------------------------------------


def test_kaluza_gate_statistics_one_row_per_tube_and_gate(wh):
    name = land(wh, "kaluza_gate_statistics.csv")
    report = wh.ingest()
    assert report.rows_quarantined == 0 and report.records_read == 6
    a, b = tube("A0000001_T1.fcs"), tube("A0000002_T1.fcs")
    rows = loaded(wh)
    assert len(rows) == 15  # 5 gates x Number, %Gated, %Total
    assert rows[:3] == [
        (a, "Leukocytes", "Count", 443012.0, None, 2),
        (a, "Leukocytes", "Freq. of Parent", 100.0, 5, 2),
        (a, "Leukocytes", "Freq. of Total", 100.0, 5, 2),
    ]
    assert (a, CAR, "Freq. of Total", 0.28, 2, 4) in rows and (b, LYMPH, "Count", 15520.0, None, 6) in rows
    assert wh.quarantine() == [
        (name, 1, "X-Mean", "not a '<gate path> | <statistic>' column of a known statistic: ignored", None, None)
    ]


def test_infinicyt_one_row_per_population_and_statistic(wh):
    name = land(wh, "infinicyt_population_statistics.csv")
    report = wh.ingest()
    a, b = tube("A0000001_T1.fcs"), tube("A0000002_T1.fcs")
    assert loaded(wh) == [
        (a, "Leukocytes", "Count", 443012.0, None, 2),
        (a, LYMPH, "Freq. of Parent", 25.5, 4, 3),  # 25,50: the trailing zero is a written figure
        (a, CD3, "Absolute Count (cells/µL)", 1812.25, 6, 4),
        (b, "Leukocytes", "Count", 50000.0, None, 6),
        (b, LYMPH, "Freq. of Parent", 31.04, 4, 7),
    ]
    assert report.records_skipped == 2  # the header and the median row
    assert wh.quarantine() == [
        (
            name,
            1,
            "Statistic",
            "statistic 'Median CD3 FITC' is not one the models use: its rows are skipped",
            None,
            None,
        ),
        (name, 8, None, "no statistic in the row", None, None),  # an empty value
    ]


def test_long_layout_duplicates_and_missing_tube_column(wh):
    wh.write(
        f"{STATS}/SITE7/dup.csv",
        "File,Gate,Number\nA.fcs,Leukocytes,10\nA.fcs,Leukocytes,10\nA.fcs,Leukocytes/Lymphocytes,4\n",
    )
    wh.write(f"{STATS}/SITE7/nofile.csv", "Gate,Number\nLeukocytes,10\n")
    with pytest.raises(
        IngestError, match=r"nofile.csv \(row 1, column 'Gate'\): a per-tube export .* without a column of FCS"
    ):
        wh.ingest()
    assert [(r[1], r[3]) for r in wh.quarantine()] == [(3, "exact duplicate of row 2")]


# --- a lab's own names (cytometry_lab_columns seed) ---------------------------------------------

LAB_COLUMNS = """lab,lab_name,gate_path,statistic,note
SITE7,CAR-T count,Leukocytes/Lymphocytes/CD3+/CD19-CAR+,Count,renamed in the table editor
site7,T cells,Leukocytes/Lymphocytes/CD3+,,the lab's gate name
"""


@pytest.fixture
def lab_columns(tmp_path, monkeypatch):
    seed = tmp_path / "cytometry_lab_columns.csv"
    seed.write_text(LAB_COLUMNS, encoding="utf-8")
    monkeypatch.setattr("cartwh.contract.cytometry.LAB_COLUMNS_SEED", seed)
    return seed


def test_a_labs_renamed_columns_and_gate_names_map_onto_gate_paths(wh, lab_columns):
    header = "Sample,CAR-T count,T cells | Freq. of Parent (%),Mystery column\n"
    wh.write(f"{STATS}/SITE7/a.csv", header + "A.fcs,1250,61.2,7\n")
    wh.write(f"{STATS}/SITE8/a.csv", header + "A.fcs,99,50,7\n")  # another lab: SITE7's names are not its own
    wh.write(f"{STATS}/SITE7/long.csv", "File,Gate,Number\nB.fcs,T cells,300\nB.fcs,Leukocytes,900\n")
    report = wh.ingest()
    assert report.failures == []
    site8 = hmac_tube_key(SECRET, "A.fcs", "site8")
    assert wh.rows(
        "SELECT tube_key, gate_path, statistic, value FROM raw.cytometry_population_stats ORDER BY value"
    ) == [
        (site8, "T cells", "Freq. of Parent", 50.0),  # kept as written: the dictionary reports it unknown
        (tube("A.fcs"), CD3, "Freq. of Parent", 61.2),
        (tube("B.fcs"), CD3, "Count", 300.0),
        (tube("B.fcs"), "Leukocytes", "Count", 900.0),
        (tube("A.fcs"), CAR, "Count", 1250.0),
    ]
    ignored = "not a '<gate path> | <statistic>' column of a known statistic: ignored"
    assert sorted((r[0], r[2], r[3]) for r in wh.quarantine()) == [  # once per file, by name
        (f"{STATS}/SITE7/a.csv", "Mystery column", ignored),
        (f"{STATS}/SITE8/a.csv", "CAR-T count", ignored),
        (f"{STATS}/SITE8/a.csv", "Mystery column", ignored),
    ]


def test_a_lab_map_onto_an_unknown_gate_path_fails_the_labs_files(wh, lab_columns):
    lab_columns.write_text(LAB_COLUMNS + "SITE7,CAR+,Leukocytes/No such gate,,typo\n", encoding="utf-8")
    wh.write(f"{STATS}/SITE7/a.csv", "Sample,CAR-T count\nA.fcs,1\n")
    with pytest.raises(
        IngestError,
        match=r"maps 'CAR\+' of lab 'SITE7' onto 'Leukocytes/No such gate', which the "
        "population dictionary does not know",
    ):
        wh.ingest()


def test_statistic_spellings_are_one_list_of_the_contracts_statistics():
    import csv

    from cartwh.contract.cytometry import STATISTICS, STATISTICS_SEED, is_percent, spelling_key, statistic_of

    with open(STATISTICS_SEED, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len({spelling_key(r["spelling"]) for r in rows}) == len(rows)  # no spelling twice, even as compared
    assert {r["statistic"] for r in rows} == set(STATISTICS)
    assert statistic_of("freq. of parent  (%)") == "Freq. of Parent"
    assert statistic_of("Absolute Count (cells/\u03bcL)") == "Absolute Count (cells/µL)"  # Greek mu, micro sign
    assert statistic_of("Median : CD3 FITC-A") is None
    assert [s for s in STATISTICS if is_percent(s)] == ["Freq. of Parent", "Freq. of Total"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 999_999), st.integers(0, 6)), min_size=1, max_size=8))
def test_property_decimal_comma_files_read_back_digit_for_digit(numbers):
    """Numbers written as a Spanish Excel writes them (decimal comma, '.' grouping thousands) come
    back with a decimal point and the same digits, whatever their size and decimals; the file's
    dialect is detected from them, or refused as ambiguous only when every number is 1.234-like."""
    written, expected = [], []
    for whole, fraction, decimals in numbers:
        digits = str(fraction).zfill(6)[:decimals]
        written.append(f"{whole:,}".replace(",", ".") + ("," + digits if decimals else ""))
        expected.append(str(whole) + ("." + digits if decimals else ""))
    content = (
        "Sample;" + ";".join(f"G{i} | Count" for i in range(len(written))) + "\n" + "x.fcs;" + ";".join(written) + "\n"
    ).encode("cp1252")
    try:
        dialect, _ = detect(content, "x.csv")
    except ExportError as refused:  # only when every number could be read either way (1.234, 1,000)
        assert "cannot tell the decimal mark" in str(refused)
        assert all(w.isdigit() or re.fullmatch(r"[1-9]\d{0,2}[.,]\d{3}", w) for w in written)
        dialect = Dialect("cp1252", ";", ",")  # what the lab would declare
    if dialect.decimal == ".":  # nothing showed a decimal mark: plain integers only
        assert all(w.isdigit() for w in written)
    else:
        assert [number_normaliser(dialect)(w) for w in written] == expected

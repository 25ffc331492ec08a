"""DuckDB splits a file whose every line is a record (quoted cells included); Python's CSV reader
splits the others (cartwh/ingest/csv_reader.py). Both must give the same rows, problems and
counts: a property test over generated files reads each one both ways, the fallback is taken
exactly where a line is not a record, and a stray quote's run of swallowed lines is named by its
first and last line."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwh.ingest import csv_reader
from cartwh.ingest.csv_reader import RECORDS, ROWS, SKIPPED, ExportFile, read_rows
from cartwh.ingest.dialects import Dialect
from cartwh.ingest.errors import IngestError
from tests.unit.ingest.test_ingest_cytometry import LEUK_COUNT, STATS, CytometryWarehouse

HEADER = ["Sample", "A | Count", "B | Freq. of Parent"]
# Cells as labs and spreadsheets write them, quote characters aside: numbers, names, blanks
# (Python's idea of a blank includes the no-break and ideographic spaces), empty cells.
CELL = st.text(alphabet="0a.-E5 \u00a0\u3000\t", max_size=5)
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# Inside quotes anything goes: delimiters, doubled quotes, blanks; a line break makes a record
# of two lines, which only Python's reader splits.
QUOTED = st.text(alphabet='0a,;\t" \u00a0\n', max_size=5)


@st.composite
def _cell(draw, delimiter: str) -> str:
    """A cell as written: bare (no quote, no delimiter), quoted, or now and then with a stray quote."""
    kind = draw(st.sampled_from(["bare", "bare", "quoted", "stray"]))
    if kind == "quoted":
        return '"' + draw(QUOTED).replace('"', '""') + '"'
    bare = draw(CELL).replace(delimiter, "")
    return bare + '"' if kind == "stray" else bare


@st.composite
def lab_files(draw):
    """(bytes, dialect, lab export?) of a file as labs and REDCap write them: ragged rows, blank
    lines and rows of blank cells, quoted cells (with delimiters, quotes, blanks or a line break
    inside), stray quotes, LF or CR LF, a FlowJo delimiter at every line's end."""
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    lab = draw(st.booleans())
    trailing = lab and draw(st.booleans())
    end = draw(st.sampled_from(["\n", "\r\n"]))
    header = ("" if lab and draw(st.booleans()) else HEADER[0], *HEADER[1:])
    lines = [delimiter.join(header) + (delimiter if trailing else "")]
    for _ in range(draw(st.integers(0, 12))):
        cells = draw(st.lists(_cell(delimiter), min_size=0, max_size=5))
        lines.append(delimiter.join(cells) + (delimiter if trailing and draw(st.booleans()) else ""))
    text = end.join(lines) + (end if draw(st.booleans()) else "")
    return text.encode("utf-8"), Dialect("utf-8", delimiter, "."), lab


def _read(con, path: Path, content: bytes, dialect: Dialect, lab: bool, columns, fallback: bool, monkeypatch):
    path.write_bytes(content)
    file = ExportFile(path, path.name, "x", len(content), load_id=7, lab_export=lab, dialect=dialect if lab else None)
    with monkeypatch.context() as patch:
        if fallback:
            patch.setattr(csv_reader._Text, "may_split_by_lines", lambda self: False)
        header, problems = read_rows(con, [file], first_column="Sample", columns=columns)
    # every cell of a row as read, whether ROWS names it or keeps it for later (cells_sql)
    cells = "*" if columns is None else f"_load_id, _row, Sample, ({csv_reader.cells_sql(dialect.delimiter)})[1:3]"
    return (
        header,
        sorted((i, p.row, p.column, p.reason) for i, p in problems),
        con.execute(f"SELECT {cells} FROM {ROWS} ORDER BY _row").fetchall(),
        con.execute(f"SELECT * FROM {RECORDS}").fetchall(),
        con.execute(f"SELECT * FROM {SKIPPED} ORDER BY row").fetchall(),
    )


@PROPERTY
@given(lab_files(), st.sampled_from([None, ["Sample"]]))
def test_property_duckdb_and_python_split_a_file_alike(tmp_path, monkeypatch, file, columns):
    content, dialect, lab = file
    if not lab and dialect.delimiter != ",":  # REDCap and the LIMS write commas
        dialect = Dialect()
        content = content.replace(b";", b",").replace(b"\t", b",")
    con = duckdb.connect()
    by_duckdb = _read(con, tmp_path / "a.csv", content, dialect, lab, columns, False, monkeypatch)
    by_python = _read(con, tmp_path / "a.csv", content, dialect, lab, columns, True, monkeypatch)
    assert by_duckdb == by_python


@pytest.mark.parametrize(
    ("body", "fallback"),
    [
        ("A.fcs,1,2\nB.fcs,3\n\n,,\nC.fcs,4,5,6\n", False),  # ragged rows and blank lines: still one line each
        ("A.fcs,1,2\r\nB.fcs,3,4\r\n", False),
        ('A.fcs,"1,5",2\n', False),  # quoted cells, as REDCap writes text with a comma
        ('"A.fcs","1 ""5""",""\n,,\n', False),
        ('"A\nB.fcs",1,2\n', True),  # a cell with a newline: one record, two lines
        ('A.fcs,1,2"\nB.fcs,3,4\n', True),  # a stray quote
        ('A.fcs,"1" ,2\n', True),  # text after a closing quote
        ("A.fcs,1,2\rB.fcs,3,4\n", True),  # a lone CR ends a record too
        ("A.fcs,1,\x002\n", True),  # a NUL byte
    ],
)
def test_python_reads_exactly_the_files_where_a_line_is_not_a_record(tmp_path, monkeypatch, body, fallback):
    path = tmp_path / "s.csv"
    path.write_text(",".join(HEADER) + "\n" + body, encoding="utf-8", newline="")
    split = []
    python = csv_reader._split_in_python
    monkeypatch.setattr(csv_reader, "_split_in_python", lambda *a: split.append(a) or python(*a))
    read_rows(duckdb.connect(), [ExportFile(path, "s.csv", "x", 0, load_id=1)])
    assert bool(split) == fallback


def test_a_quote_left_open_names_the_lines_it_swallowed(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "site7")
    wh = open_warehouse(CytometryWarehouse, "paths-test-secret")
    rows = "".join(f"A{i}.fcs,{i}\n" for i in range(4, 15))
    wh.write(f"{STATS}/s.csv", f'Sample,{LEUK_COUNT}\nA2.fcs,2\nA3.fcs,"3\n{rows}')
    report = wh.ingest()
    assert wh.quarantine() == [
        (
            f"{STATS}/s.csv",
            3,
            None,
            "malformed row (unreadable CSV: unexpected end of data) (lines 3 to 14)",
            None,
            None,
        )
    ]
    assert report.records_read == report.rows_landed + report.rows_quarantined + report.records_skipped == 3


# --- the decimal mark from the numbers alone (issue 28, item 9) --------------------------------------


@pytest.fixture
def lab(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "SITE7")
    return open_warehouse(CytometryWarehouse, "paths-test-secret")


AMBIGUOUS = f"Sample;{LEUK_COUNT};Leukocytes/Lymphocytes/CD3+ | Absolute Count (cells/µL)\n"


@pytest.mark.parametrize(
    "rows",
    [
        "A1.fcs;1E+06;560,301\nA2.fcs;2E+06;12,500\n",  # E-notation has no decimal mark
        "2023.0715;100;560,301\n2023.0716;200;12,500\n",  # a sample's name is not a number
    ],
)
def test_a_file_of_ambiguous_numbers_is_refused_until_its_lab_declares_its_mark(lab, monkeypatch, rows):
    name = f"{STATS}/SITE7/s.csv"
    lab.write(name, AMBIGUOUS + rows)
    with pytest.raises(IngestError, match=r"cannot tell the decimal mark: '560,301' could be a decimal"):
        lab.ingest()
    assert lab.rows("SELECT count(*) FROM raw.landed_files") == [(0,)]
    from cartwh.ingest.dialects import Declared

    monkeypatch.setattr("cartwh.ingest.dialects.lab_dialects", lambda: {"SITE7": Declared(decimal=",")})
    lab.ingest()
    assert lab.rows(
        "SELECT value FROM raw.cytometry_population_stats WHERE statistic LIKE 'Absolute%' ORDER BY value"
    ) == [(12.5,), (560.301,)]


def test_utf16_without_a_byte_order_mark_is_read(lab):
    name = f"{STATS}/SITE7/s.txt"
    path = lab.landing / name
    path.parent.mkdir(parents=True)
    path.write_bytes(f"Sample\t{LEUK_COUNT}\r\nA1.fcs\t443012\r\n".encode("utf-16-le"))
    report = lab.ingest()
    assert report.files_loaded == [name]
    assert lab.rows("SELECT value FROM raw.cytometry_population_stats") == [(443012.0,)]

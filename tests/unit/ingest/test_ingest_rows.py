"""Every record of an export accounted for, under its own row number and its own patient
(issue 18, items 1 and 5): the shapes that lost or misnumbered rows, strict dates and headers,
summary rows in every spelling, the ledger's accounting, and a property-based test over
random files (cartwh/ingest/csv_reader.py, validation.py, the loaders and the ledger)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwh.contract.dates import dictionary_bound, latest_date
from cartwh.contract.redcap import Field
from cartwh.ingest.csv_reader import ROWS
from cartwh.ingest.errors import IngestError
from cartwh.ingest.load import ingest_source
from cartwh.ingest.redcap_loader import field_rules
from cartwh.ingest.validation import PROBLEMS, VALUES, Rule, check_rules, reset_problems, unpivot_values
from cartwh.ingest.warehouse import connect
from cartwh.warehouse.status import warehouse_summary
from tests.conftest import Warehouse, hmac_pseudonym, hmac_tube_key
from tests.unit.ingest.test_ingest_redcap import ZELDA_BASE, repeat, write_export

SECRET = "rows-accounting-test-secret"
STATS = "cytometry/statistics"
MANIFESTS = "cytometry/manifests/SITE7"
REDCAP = "redcap/site_7"
CAR_ABS = "Leukocytes/Lymphocytes/CD3+/CD19-CAR+ | Absolute Count (cells/µL)"
LEUK_COUNT = "Leukocytes | Count"
MANIFEST_HEADER = [
    "fcs_file",
    "record_id",
    "specimen",
    "collection_date",
    "timepoint",
    "instrument",
    "panel",
    "acquisition_date",
]
ACCOUNTS = "SELECT records_read, rows_landed, rows_quarantined, records_skipped FROM raw.landed_files ORDER BY load_id"


def key(record_id: str, site: str = "site_7") -> str:
    """The contract's pseudonym, computed independently (tests/conftest.py). Every export here lands
    in its site's folder (REDCap's `redcap/site_7/`, the lab's `SITE7/`, site 'site7')."""
    return hmac_pseudonym(SECRET, record_id, site)


def tube(fcs_file: str, site: str = "site7") -> str:
    """The tube key the contract defines for an FCS file name at a site (tests/conftest.py)."""
    return hmac_tube_key(SECRET, fcs_file, site)


class RowsWarehouse(Warehouse):
    def write(self, name: str, text: str) -> Path:
        path = self.landing / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        return path


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "site7")  # statistics landing at the top: their tube keys are this site's
    return open_warehouse(RowsWarehouse, SECRET)


def balanced(wh) -> bool:
    return all(read == landed + quarantined + skipped for read, landed, quarantined, skipped in wh.rows(ACCOUNTS))


# --- the shapes that lost rows (issue 18, item 1) -----------------------------------------------


def test_statistics_reexport_with_rows_2_and_3_malformed_keeps_row_4(wh):
    # The re-export of the issue: two malformed tubes, then the valid day-7 tube, whose 560.3/uL
    # peak was lost when the old row numbering tied on the two rejected lines.
    name = f"{STATS}/SITE7/2024-03_CART-DETECT-v2.csv"
    wh.write(
        name,
        f"Sample,{LEUK_COUNT},{CAR_ABS}\n"
        "A0000001_D5.fcs,50000\n"  # row 2: a cell short
        "A0000001_D6.fcs,48000,12.0,7\n"  # row 3: a cell too many
        "A0000001_D7.fcs,51000,560.3\n"  # row 4: valid
        "A0000001_D21.fcs,47000,88.5\n",
    )  # row 5: valid
    wh.ingest("cytometry_statistics")
    assert wh.rows(
        "SELECT tube_key, value, _source_row FROM raw.cytometry_population_stats "
        "WHERE gate_path LIKE '%CAR+' ORDER BY _source_row"
    ) == [(tube("A0000001_D7.fcs"), 560.3, 4), (tube("A0000001_D21.fcs"), 88.5, 5)]
    assert [q[:4] for q in wh.quarantine()] == [
        (name, 2, CAR_ABS, "malformed row (missing columns): expected 3 columns"),
        (name, 3, None, "malformed row (too many columns): expected 3 columns"),
    ]
    assert wh.rows(ACCOUNTS) == [(5, 2, 2, 1)]


def test_redcap_export_of_15_rows_with_rows_10_to_12_malformed(wh):
    # Rows 2-15 are one record each (SITE7-0002 on row 2 ... SITE7-0015 on row 15); rows 10-12
    # lose their last columns. Every other row lands under its own row and its own patient.
    rows = [dict(ZELDA_BASE, record_id=f"SITE7-{row:04d}") for row in range(2, 16)]
    path = write_export(wh.landing / REDCAP / "site7.csv", rows)
    lines = path.read_text().splitlines(keepends=True)
    for row in (10, 11, 12):
        lines[row - 1] = ",".join(lines[row - 1].split(",")[:5]) + "\n"
    path.write_text("".join(lines))
    wh.ingest("redcap")
    expected = [(key(f"SITE7-{row:04d}"), row) for row in range(2, 16) if row not in (10, 11, 12)]
    for form in ("demographics", "disease_history", "toxicity"):
        assert wh.rows(f"SELECT patient_key, _source_row FROM raw.redcap_{form} ORDER BY _source_row") == expected
    # A row that cannot be split names no patient rather than borrowing another row's.
    assert [(q[1], q[5]) for q in wh.quarantine()] == [(10, None), (11, None), (12, None)]
    assert wh.rows(ACCOUNTS) == [(15, 11, 3, 1)]


def test_a_record_spanning_lines_is_one_row(wh):
    header = ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance", "bt_agent", "bt_regimen"]
    wh.write(
        f"{REDCAP}/a.csv",
        ",".join(header) + "\n"
        'R1,bridging_therapy,1,2,"vincristine\ndexamethasone\nweekly"\n'  # row 2, lines 2-4
        "R1,bridging_therapy,2\n"  # row 3, line 5: malformed
        'R1,bridging_therapy,3,2,"a ""quoted"", comma"\n',
    )  # row 4, line 6
    wh.ingest("redcap")
    assert wh.rows(
        "SELECT redcap_repeat_instance, bt_regimen, _source_row FROM raw.redcap_bridging_therapy ORDER BY 3"
    ) == [(1, "vincristine\ndexamethasone\nweekly", 2), (3, 'a "quoted", comma', 4)]
    assert [q[1:4] for q in wh.quarantine()] == [
        (3, "bt_agent", "malformed row (missing columns): expected 5 columns (the record starts on line 5)")
    ]
    assert wh.rows(ACCOUNTS) == [(4, 2, 1, 1)]


def test_blank_records_are_skipped_and_counted(wh):
    wh.write(f"{STATS}/b.csv", f"Sample,{LEUK_COUNT}\nA.fcs,100\n\n,\nB.fcs,200\n")
    wh.ingest("cytometry_statistics")
    assert wh.rows("SELECT tube_key, _source_row FROM raw.cytometry_population_stats ORDER BY 2") == [
        (tube("A.fcs"), 2),
        (tube("B.fcs"), 5),
    ]
    assert wh.rows(ACCOUNTS) == [(5, 2, 0, 3)]


def test_redcap_record_row_without_form_data_is_skipped_not_lost(wh):
    rows = [
        dict(record_id="R1", redcap_data_access_group="site_7"),  # row 2: REDCap's empty base row
        repeat("R1", "laboratory", 1, lab_date="2024-03-10", crp_value="1.5", crp_unit="1"),
    ]
    write_export(wh.landing / REDCAP / "a.csv", rows)
    wh.ingest("redcap")
    assert wh.rows("SELECT _source_row FROM raw.redcap_laboratory") == [(3,)]
    assert wh.rows(ACCOUNTS) == [(3, 1, 0, 2)]


def test_a_file_whose_records_do_not_add_up_fails_whole(wh, monkeypatch):
    # A loader that loses a row (the failure the ledger's check exists for) must not commit.
    from cartwh.ingest import load as ingest
    from cartwh.ingest.sources import CytometryManifest

    class LosingManifest(CytometryManifest):
        def load(self, con, files):
            tables = super().load(con, files)
            con.execute("DELETE FROM raw.cytometry_samples WHERE _source_row = 3")
            return tables

    monkeypatch.setitem(ingest.SOURCES, "cytometry_manifest", LosingManifest())
    name = f"{MANIFESTS}/b.csv"
    wh.write(
        name,
        ",".join(MANIFEST_HEADER)
        + "\n"
        + "A.fcs,R1,peripheral blood,2024-03-16,D7,,P,\nB.fcs,R2,peripheral blood,2024-03-16,D7,,P,\n",
    )
    with pytest.raises(IngestError) as raised:
        wh.ingest("cytometry_manifest")
    assert str(raised.value.failures[0]) == (
        f"{name}: records do not add up, nothing loaded: 3 read, but 1 landed + 0 quarantined + 1 skipped "
        "(1 in none of them)"
    )
    assert wh.rows("SELECT count(*) FROM raw.landed_files") == [(0,)]
    exists = wh.rows(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = 'cytometry_samples'"
    )
    assert exists == [(0,)] or wh.rows("SELECT count(*) FROM raw.cytometry_samples") == [(0,)]


# --- strict values (issue 18, item 5) ------------------------------------------------------------


BAD_DATES = [
    "infinity",
    "-infinity",
    "epoch",
    "2003-10-09 (BC)",
    "12025-02-09",
    "2023/07/02",
    "2023-7-2",
    "20230702",
    "2023-02-30",
    "1899-12-31",
    "0202-03-01",
]


def test_dates_must_be_iso_and_plausible(wh):
    future = (latest_date() + dt.timedelta(days=1)).isoformat()
    values = BAD_DATES + [future, "2024-02-29", " 2024-03-01 ", "1900-01-01", latest_date().isoformat()]
    lines = [f"T{i}.fcs,R{i},peripheral blood,{v},D7,,P," for i, v in enumerate(values)]
    name = f"{MANIFESTS}/b.csv"
    wh.write(name, ",".join(MANIFEST_HEADER) + "\n" + "\n".join(lines) + "\n")
    wh.ingest("cytometry_manifest")
    reasons = {q[4]: q[3] for q in wh.quarantine()}
    assert reasons == {
        **{v: "not a date (YYYY-MM-DD)" for v in BAD_DATES[:-2]},
        "1899-12-31": "before the earliest plausible date 1900-01-01",
        "0202-03-01": "before the earliest plausible date 1900-01-01",
        future: f"after the latest plausible date {latest_date().isoformat()}",
    }
    assert wh.rows("SELECT collection_date FROM raw.cytometry_samples ORDER BY _source_row") == [
        (dt.date(2024, 2, 29),),
        (dt.date(2024, 3, 1),),
        (dt.date(1900, 1, 1),),
        (latest_date(),),
    ]


def test_a_bad_birth_date_gives_no_age(wh):
    # The ages 4025 and -52 came from birth dates DuckDB's cast accepted.
    rows = [
        dict(ZELDA_BASE, record_id="R1", birth_date="infinity"),
        dict(ZELDA_BASE, record_id="R2", birth_date="2003-10-09 (BC)"),
        dict(ZELDA_BASE, record_id="R3", infusion_date="12025-02-09"),
        dict(ZELDA_BASE, record_id="R4"),
    ]
    write_export(wh.landing / REDCAP / "a.csv", rows)
    wh.ingest("redcap")
    # Zelda: born 1987-03-10, infused 2024-03-09, the day before her 37th birthday.
    assert wh.rows("SELECT patient_key, age_at_infusion_years FROM raw.redcap_demographics ORDER BY _source_row") == [
        (key("R3"), None),
        (key("R4"), 36),
    ]
    assert [(q[1], q[2], q[3], q[4]) for q in wh.quarantine()] == [
        (2, "birth_date", "not a date (YYYY-MM-DD) [form demographics]", None),
        (3, "birth_date", "not a date (YYYY-MM-DD) [form demographics]", None),
        (4, "infusion_date", "not a date (YYYY-MM-DD) [form lymphodepletion_infusion]", "12025-02-09"),
    ]


def test_date_times_must_be_iso_and_plausible():
    con = duckdb.connect()
    values = [
        "2024-03-09 14:30",
        "2024-03-09T14:30:05",
        "2024-03-09",
        "infinity",
        "epoch",
        "2024-03-09 25:00",
        "09/03/2024 14:30",
        "1899-12-31 23:59",
    ]
    con.execute(f"CREATE TEMP TABLE {ROWS} (_load_id BIGINT, _row BIGINT, t VARCHAR)")
    con.executemany(f"INSERT INTO {ROWS} VALUES (1, ?, ?)", [(i + 2, v) for i, v in enumerate(values)])
    reset_problems(con, [])
    unpivot_values(con, ["t"])
    check_rules(con, [Rule("t", "TIMESTAMP")])
    label = "not a date-time (YYYY-MM-DD HH:MM[:SS])"
    assert con.execute(f"SELECT row, reason FROM {PROBLEMS} ORDER BY row").fetchall() == [
        (4, label),
        (5, label),
        (6, label),
        (7, label),
        (8, label),
        (9, "before the earliest plausible date 1900-01-01"),
    ]
    assert con.execute(f"SELECT count(*) FROM {VALUES}").fetchall() == [(8,)]


def test_the_dictionary_date_window_wins_over_the_default():
    today = dt.date(2026, 3, 1)
    assert dictionary_bound("2015-01-01") == dt.date(2015, 1, 1)
    assert dictionary_bound("today", today) == today and dictionary_bound("now", today) == today
    assert dictionary_bound("") is None
    with pytest.raises(ValueError):
        dictionary_bound("01/01/2015")
    field = Field(
        "infusion_date",
        "lymphodepletion_infusion",
        "text",
        "",
        (),
        "date_ymd",
        None,
        None,
        False,
        date_min="2015-01-01",
        date_max="",
    )
    (rule,) = field_rules(field)
    assert (rule.sql_type, rule.earliest, rule.latest) == ("DATE", dt.date(2015, 1, 1), None)


def test_header_cells_differing_by_a_trailing_space_are_one_column_twice(wh):
    # The 9,999/uL peak: the second spelling loaded as a second value of the same measure.
    name = f"{STATS}/b.csv"
    wh.write(name, f"Sample,{CAR_ABS},{CAR_ABS} \nA.fcs,560.3,9999\n")
    wh.write(f"{STATS}/c.csv", f"Sample,{CAR_ABS}\nB.fcs,88.5\n")
    with pytest.raises(IngestError) as raised:
        wh.ingest("cytometry_statistics")
    assert str(raised.value.failures[0]) == (
        f"{name} (row 1, column '{CAR_ABS}'): column appears twice in the header (as '{CAR_ABS}' and '{CAR_ABS} ')"
    )
    assert wh.rows("SELECT tube_key, value FROM raw.cytometry_population_stats") == [(tube("B.fcs"), 88.5)]


def test_header_names_compare_trimmed_and_case_folded(wh):
    wh.write(f"{REDCAP}/a.csv", "Record_ID , SEX\nR1,2\n")
    wh.write(f"{REDCAP}/b.csv", "record_id,Record_id\nR2,R3\n")
    with pytest.raises(IngestError) as raised:
        wh.ingest("redcap")
    assert [str(f) for f in raised.value.failures] == [
        f"{REDCAP}/b.csv (row 1, column 'Record_id'): column appears twice in the header (as 'record_id' and "
        "'Record_id')"
    ]
    assert wh.rows("SELECT patient_key, sex FROM raw.redcap_demographics") == [(key("R1"), "2")]


SUMMARY_SPELLINGS = [
    "Mean",
    "mean",
    "MEAN",
    "Median",
    "SD",
    "Std. Dev.",
    "Std Dev",
    "StdDev",
    "CV",
    "Robust CV",
    "Geom. Mean",
    "Min",
    "Max",
    "Sum",
    "Count",
    "Average",
    " sd ",
]


def test_summary_rows_are_recognised_in_every_spelling(wh):
    body = "".join(f"{s},1\n" for s in SUMMARY_SPELLINGS)
    wh.write(f"{STATS}/b.csv", f"Sample,{LEUK_COUNT}\nA.fcs,100\n{body}B.fcs,200\n")
    wh.ingest("cytometry_statistics")
    assert wh.rows("SELECT tube_key FROM raw.cytometry_population_stats ORDER BY 1") == sorted(
        [(tube("A.fcs"),), (tube("B.fcs"),)]
    )
    assert wh.quarantine() == []
    assert wh.rows(ACCOUNTS) == [(len(SUMMARY_SPELLINGS) + 3, 2, 0, len(SUMMARY_SPELLINGS) + 1)]


def test_status_prints_the_accounting_per_source(wh):
    wh.write(f"{STATS}/b.csv", f"Sample,{LEUK_COUNT}\nA.fcs,100\nB.fcs\nMean,100\n")
    wh.ingest("cytometry_statistics")
    wh.con.close()
    text = warehouse_summary(wh.root / "w.duckdb")
    wh.con = connect(wh.root / "w.duckdb")
    assert "records read = landed + quarantined + skipped:" in text
    assert "  cytometry_statistics               4 =            1 +            1 +          2" in text


# --- property: random files, every record accounted for -------------------------------------------


SAMPLE_NAME_CHARACTERS = "ab,\n"
REDCAP_HEADER = ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance", "bt_agent", "bt_regimen"]


def _text(draw, alphabet: str = 'abcXYZ019 ,"\n-') -> str:
    """Free text as people type it: commas, quotes and newlines, which a CSV writer quotes."""
    return draw(st.text(alphabet=alphabet, max_size=8))


def _manifest_row(draw, row: int) -> tuple[str, list[str]]:
    record_id = f"R{draw(st.integers(1, 4))}"
    return record_id, [f"T{row}.fcs", record_id, "peripheral blood", "2024-03-16", "D7", _text(draw), "P", ""]


def _statistics_row(draw, row: int) -> tuple[str, list[str]]:
    sample = f'T{row} "{_text(draw, SAMPLE_NAME_CHARACTERS)}".fcs'
    return sample, [sample, str(row * 10), f"{row}.5"]


def _redcap_row(draw, row: int) -> tuple[str, list[str]]:
    record_id = f"SITE1-{draw(st.integers(1, 4)):04d}"
    return record_id, [record_id, "bridging_therapy", str(row), "2", _text(draw)]


@st.composite
def exports(draw, header: list[str], valid_row, summaries: bool = False):
    """A file as a CSV writer (or a careless hand) writes it: valid rows (`valid_row(draw, row)`
    -> (whose, cells)) between runs of rows cut short or with cells too many, blank lines, and,
    for statistics, summary rows in any spelling wherever they fall. Returns the text and, per
    record number, (kind, whose)."""
    kinds = ["valid", "valid", "short", "long", "blank"] + (["summary"] if summaries else [])
    out = io.StringIO()
    writer = csv.writer(
        out,
        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
        lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
    )
    writer.writerow(header)
    expected = {}
    for row, kind in enumerate(draw(st.lists(st.sampled_from(kinds), max_size=14)), start=2):
        whose, cells = valid_row(draw, row)
        if kind == "blank":
            out.write(draw(st.sampled_from(["\n", "," * (len(header) - 1) + "\n"])))
        elif kind == "summary":
            writer.writerow([draw(st.sampled_from(SUMMARY_SPELLINGS))] + ["1.5"] * (len(header) - 1))
        elif kind == "short":
            writer.writerow(cells[: draw(st.integers(1, len(cells) - 1))])
        elif kind == "long":
            writer.writerow(cells + [_text(draw)] * draw(st.integers(1, 3)))
        else:
            writer.writerow(cells)
        expected[row] = (kind, whose)
    return out.getvalue(), expected


@pytest.fixture
def memory(monkeypatch):
    """One in-memory warehouse for all examples of a property test (schema and raw tables are
    made once); each example's file is told apart by its load id."""
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", SECRET)
    monkeypatch.setenv("CARTWH_SITE", "site7")
    with tempfile.TemporaryDirectory(prefix="rows-property-") as archive:
        con = connect(":memory:", folders=[Path(archive)])  # the one archive every example writes to
        yield con
        con.close()


def _ingested(con, source: str, name: str, text: str, expected: dict) -> tuple[int, list]:
    """Ingest one example file and check what holds for every source: its records add up, the
    cut and overlong rows and only they are quarantined, each under its own row and naming no
    patient, and only the header, blank and summary rows are skipped. Returns the load id and
    the valid rows as (row, whose). The ledger is emptied after, so that the next example loads
    even when Hypothesis draws the same content again."""
    (archive,) = [
        Path(d)
        for d in con.execute("SELECT current_setting('allowed_directories')").fetchone()[0]
        if "rows-property-" in d
    ]
    with tempfile.TemporaryDirectory(prefix="rows-property-") as folder:
        path = Path(folder) / "landing" / name
        path.parent.mkdir(parents=True)
        path.write_bytes(text.encode("utf-8"))
        ingest_source(con, Path(folder) / "landing", source, archive)
    (load_id,) = con.execute("SELECT max(load_id) FROM raw.landed_files").fetchone()
    read, landed, quarantined, skipped = con.execute(
        ACCOUNTS.replace("ORDER BY", "WHERE load_id = ? ORDER BY"), [load_id]
    ).fetchall()[0]
    con.execute("DELETE FROM raw.landed_files")
    valid = sorted((row, whose) for row, (kind, whose) in expected.items() if kind == "valid")
    bad = sorted(row for row, (kind, _) in expected.items() if kind in ("short", "long"))
    assert read == landed + quarantined + skipped == len(expected) + 1
    assert (landed, quarantined, skipped) == (len(valid), len(bad), len(expected) + 1 - len(valid) - len(bad))
    assert con.execute(
        "SELECT DISTINCT row, patient_key FROM raw.quarantine WHERE load_id = ? ORDER BY 1", [load_id]
    ).fetchall() == [(row, None) for row in bad]
    return load_id, valid


PROPERTY = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(exports(MANIFEST_HEADER, _manifest_row))
def test_property_every_manifest_record_is_accounted_for_under_its_own_row_and_patient(memory, export):
    load_id, valid = _ingested(memory, "cytometry_manifest", f"{MANIFESTS}/m.csv", *export)
    assert memory.execute(
        "SELECT _source_row, tube_key, patient_key FROM raw.cytometry_samples WHERE _load_id = ? ORDER BY 1", [load_id]
    ).fetchall() == [(row, tube(f"T{row}.fcs"), key(rid, "site7")) for row, rid in valid]


@PROPERTY
@given(exports(["Sample", LEUK_COUNT, CAR_ABS], _statistics_row, summaries=True))
def test_property_every_statistics_record_is_accounted_for_under_its_own_row(memory, export):
    load_id, valid = _ingested(memory, "cytometry_statistics", f"{STATS}/s.csv", *export)
    assert memory.execute(
        "SELECT _source_row, tube_key, max(value) FILTER (statistic = 'Count'), "
        "max(value) FILTER (statistic <> 'Count') FROM raw.cytometry_population_stats WHERE _load_id = ? "
        "GROUP BY 1, 2 ORDER BY 1",
        [load_id],
    ).fetchall() == [(row, tube(sample), float(row * 10), row + 0.5) for row, sample in valid]


@PROPERTY
@given(exports(REDCAP_HEADER, _redcap_row))
def test_property_every_redcap_record_is_accounted_for_under_its_own_row_and_patient(memory, export):
    load_id, valid = _ingested(memory, "redcap", f"{REDCAP}/r.csv", *export)
    assert memory.execute(
        "SELECT _source_row, redcap_repeat_instance, patient_key FROM raw.redcap_bridging_therapy "
        "WHERE _load_id = ? ORDER BY 1",
        [load_id],
    ).fetchall() == [(row, row, key(rid)) for row, rid in valid]

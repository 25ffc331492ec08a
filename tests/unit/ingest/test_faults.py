"""The demo landing with injected faults (cartwh.generate.faults) through the whole of ingestion.

Every fault the generator says ingestion must catch is quarantined at its file and row; the
faults left to the data quality checks are well-formed, so they land in raw untouched.
Generation and ingestion run once per session (tests/session_builds.py).
"""

from __future__ import annotations

import csv
import stat
from datetime import date

import duckdb
import pytest

from cartwh.ingest.load import ingest_source
from cartwh.ingest.warehouse import connect
from cartwh.pseudonym import pseudonymise
from cartwh.warehouse.record_ids import map_path, read_record_map
from tests.conftest import hmac_pseudonym

SECRET = "faults-test-secret"
SOURCES = ("redcap", "cytometry_manifest", "cytometry_statistics", "cytometry_fcs")
INGESTION_KINDS = {
    "impossible_value",
    "malformed_value",
    "invalid_code",
    "duplicate_row",
    "truncated_file",
    "identifier_in_free_text",
    "identifier_in_file_name",
    "identifier_in_quarantined_value",
}
CHECKS_KINDS = {"unit_mixup", "dates_out_of_order", "unknown_patient"}


class Ingested:
    """A demo landing (with the generator's faults, or clean) ingested from every source, once per
    session: the summary, the ingestion reports, and the warehouse read-only."""

    def __init__(self, root, summary, reports):
        self.summary, self.reports = summary, reports
        self.con = duckdb.connect(str(root / "w.duckdb"), read_only=True)
        self.archive = root / "archive"
        self.quarantine = self.rows("SELECT file, row, column_name, reason, value FROM raw.quarantine")

    def rows(self, sql: str, params=None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def load_id(self, file: str) -> int:
        (row,) = self.rows("SELECT load_id FROM raw.landed_files WHERE file = ?", [file])
        return row[0]

    def quarantined_at(self, fault) -> list[tuple]:
        return [q for q in self.quarantine if (q[0], q[1]) == (fault.file, fault.row)]


def _ingest(root, faults: bool, generated):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CARTWH_PSEUDONYM_KEY", SECRET)
        summary = generated(root / "landing", faults=faults)
        with connect(root / "w.duckdb") as con:
            return summary, {s: ingest_source(con, root / "landing", s, root / "archive") for s in SOURCES}


def _ingested(session_builds, generated, faults: bool):
    root, (summary, reports) = session_builds.build(
        "ingested-faulty" if faults else "ingested-clean", lambda root: _ingest(root, faults, generated)
    )
    result = Ingested(root, summary, reports)
    yield result
    result.con.close()


@pytest.fixture(scope="module")
def faulty(session_builds, generated):
    yield from _ingested(session_builds, generated, faults=True)


@pytest.fixture(scope="module")
def clean(session_builds, generated):
    yield from _ingested(session_builds, generated, faults=False)


def faults_of(run: Ingested, kind: str):
    found = [f for f in run.summary.faults if f.kind == kind]
    assert found, f"the generator injected no {kind} fault"
    return found


def after(fault) -> str:
    """The injected value, from the fault's 'before -> after' detail."""
    return fault.detail.split(" -> ")[1]


# --- the injected faults --------------------------------------------------------------------------


def test_fault_log_splits_by_who_catches_them(faulty):
    kinds = {f.kind: f.caught_by for f in faulty.summary.faults}
    assert {k for k, by in kinds.items() if by == "ingestion"} == INGESTION_KINDS
    assert {k for k, by in kinds.items() if by == "checks"} == CHECKS_KINDS


def test_all_files_ingested_without_failures(faulty):
    for source, report in faulty.reports.items():
        assert report.failures == [], source
        assert report.files_loaded, source
    assert faulty.rows("SELECT count(*) FROM raw.landed_files") == [(faulty.summary.files,)]


# --- caught by ingestion --------------------------------------------------------------------------


def test_every_ingestion_fault_is_quarantined_at_its_file_and_row(faulty):
    for fault in (f for f in faulty.summary.faults if f.caught_by == "ingestion"):
        hits = faulty.quarantined_at(fault)
        assert hits, fault
        if fault.column and fault.kind not in ("duplicate_row", "truncated_file"):
            assert fault.column in {q[2] for q in hits}, fault


@pytest.mark.parametrize("kind", ["impossible_value", "malformed_value", "invalid_code"])
def test_value_faults_quarantined_at_file_row_column_with_value(faulty, kind):
    for fault in faults_of(faulty, kind):
        hits = faulty.quarantined_at(fault)
        assert [(q[2], q[4]) for q in hits] == [(fault.column, after(fault))], fault


def test_value_fault_reasons(faulty):
    reasons = {
        (f.kind, f.column): [q[3] for q in faulty.quarantined_at(f)]
        for f in faulty.summary.faults
        if f.kind in ("impossible_value", "malformed_value", "invalid_code")
    }
    assert reasons[("impossible_value", "bm_blasts_pct")] == ["above the maximum 100.0 [form marrow_assessment]"]
    assert reasons[("impossible_value", "anc_value")] == ["below the minimum 0.0 [form laboratory]"]
    assert reasons[("malformed_value", "lab_date")] == ["not a date (YYYY-MM-DD) [form laboratory]"]
    assert reasons[("malformed_value", "hb_value")] == ["not a number (with a decimal point) [form laboratory]"]
    assert reasons[("invalid_code", "sex")] == ["not one of the allowed codes (1, 2) [form demographics]"]
    (stat,) = [r for (kind, column), r in reasons.items() if kind == "impossible_value" and " | " in column]
    assert stat == ["above the maximum 100.0"]


def test_injected_redcap_values_match_the_fault_log(faulty):
    blasts = next(f for f in faulty.summary.faults if f.column == "bm_blasts_pct")
    assert after(blasts) == "140.0"
    lab_date = next(f for f in faulty.summary.faults if f.column == "lab_date")
    assert after(lab_date) == "31/02/2024"
    sex = next(f for f in faulty.summary.faults if f.column == "sex")
    assert after(sex) == "9"
    hb = next(f for f in faulty.summary.faults if f.column == "hb_value")
    assert "," in after(hb) and "." not in after(hb)


def test_duplicate_rows_quarantined_as_exact_duplicates(faulty):
    for fault in faults_of(faulty, "duplicate_row"):
        assert [(q[2], q[3]) for q in faulty.quarantined_at(fault)] == [
            (None, f"exact duplicate of row {fault.row - 1}")
        ]
        # The first copy, one row above, is not quarantined.
        assert [q for q in faulty.quarantine if (q[0], q[1]) == (fault.file, fault.row - 1)] == []


def test_duplicate_first_copy_loaded(faulty):
    for fault in faults_of(faulty, "duplicate_row"):
        load_id = faulty.load_id(fault.file)
        if fault.file.startswith("redcap/"):
            loaded = faulty.rows(
                "SELECT count(*) FROM raw.redcap_laboratory WHERE _load_id = ? AND _source_row = ?",
                [load_id, fault.row - 1],
            )
        else:
            loaded = faulty.rows(
                "SELECT count(DISTINCT tube_key) FROM raw.cytometry_population_stats "
                "WHERE _load_id = ? AND _source_row = ?",
                [load_id, fault.row - 1],
            )
        assert loaded == [(1,)], fault


def test_truncated_file_last_row_quarantined(faulty):
    (fault,) = faults_of(faulty, "truncated_file")
    hits = faulty.quarantined_at(fault)
    assert len(hits) == 1
    assert hits[0][3].startswith("malformed row (missing columns): expected ")
    assert hits[0][4] is None
    load_id = faulty.load_id(fault.file)
    assert faulty.rows(
        "SELECT DISTINCT _source_row FROM raw.cytometry_population_stats WHERE _load_id = ? ORDER BY 1", [load_id]
    ) == [(r,) for r in range(2, fault.row)]


def test_form_scoped_faults_keep_the_other_forms_of_the_row(faulty):
    (sex,) = [f for f in faulty.summary.faults if f.kind == "invalid_code"]
    load_id = faulty.load_id(sex.file)
    where = "WHERE _load_id = ? AND _source_row = ?"
    assert faulty.rows(f"SELECT count(*) FROM raw.redcap_demographics {where}", [load_id, sex.row]) == [(0,)]
    assert faulty.rows(f"SELECT count(*) FROM raw.redcap_disease_history {where}", [load_id, sex.row]) == [(1,)]
    assert faulty.rows(f"SELECT count(*) FROM raw.redcap_lymphodepletion_infusion {where}", [load_id, sex.row]) == [
        (1,)
    ]


def test_no_quarantine_row_without_an_ingestion_fault(faulty):
    expected = {(f.file, f.row) for f in faulty.summary.faults if f.caught_by == "ingestion"}
    assert {(q[0], q[1]) for q in faulty.quarantine} == expected


def test_report_counts_quarantined_rows(faulty):
    total = sum(r.rows_quarantined for r in faulty.reports.values())
    assert total == len({(q[0], q[1]) for q in faulty.quarantine})
    ingestion = [f for f in faulty.summary.faults if f.caught_by == "ingestion"]
    assert total == len(ingestion)


def test_quarantine_holds_no_identifier_values(faulty):
    assert faulty.rows(
        "SELECT count(*) FROM raw.quarantine WHERE column_name IN ('patient_name', 'mrn', "
        "'birth_date', 'record_id') AND value IS NOT NULL"
    ) == [(0,)]


def test_planted_identifiers_quarantined_without_their_value(faulty):
    reasons = {}
    for fault in (f for f in faulty.summary.faults if f.kind.startswith("identifier_")):
        reasons.setdefault(fault.kind, set()).update((q[2], q[3], q[4]) for q in faulty.quarantined_at(fault))
    assert reasons == {
        "identifier_in_free_text": {("bt_regimen", "holds the record's name [form bridging_therapy]", None)},
        "identifier_in_quarantined_value": {
            ("lab_date", "holds the record's birth date [form laboratory]", None),
            ("lab_date", "not a date (YYYY-MM-DD) [form laboratory]", None),
        },
        "identifier_in_file_name": {
            ("fcs_file", "holds the record's MRN", None),
            ("Sample", "holds the record's MRN", None),
        },
    }
    files = {f.file.split("/")[1] for f in faults_of(faulty, "identifier_in_file_name")}
    assert files == {"manifests", "statistics"}  # the lab's manifest and statistics name the tube alike


# --- left to the data quality checks ------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CHECKS_KINDS))
def test_checks_faults_are_not_quarantined(faulty, kind):
    for fault in faults_of(faulty, kind):
        assert fault.caught_by == "checks"
        assert faulty.quarantined_at(fault) == [], fault


def test_unit_mixup_crp_value_landed_tenfold(faulty):
    (fault,) = faults_of(faulty, "unit_mixup")
    before, injected = (float(v) for v in fault.detail.split(" -> "))
    assert injected == pytest.approx(round(before * 10, 2))
    rows = faulty.rows(
        "SELECT crp_value, crp_unit FROM raw.redcap_laboratory WHERE _load_id = ? AND _source_row = ?",
        [faulty.load_id(fault.file), fault.row],
    )
    assert rows == [(pytest.approx(injected), "1")]


def test_dates_out_of_order_landed(faulty):
    (fault,) = faults_of(faulty, "dates_out_of_order")
    rows = faulty.rows(
        "SELECT infusion_date, ld_start_date FROM raw.redcap_lymphodepletion_infusion "
        "WHERE _load_id = ? AND _source_row = ?",
        [faulty.load_id(fault.file), fault.row],
    )
    ((infusion, ld_start),) = rows
    assert infusion == date.fromisoformat(after(fault))
    assert (ld_start - infusion).days == 3


def test_unknown_patient_manifest_row_landed_with_its_pseudonym(faulty):
    (fault,) = faults_of(faulty, "unknown_patient")
    assert after(fault) == "X-999999"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CARTWH_PSEUDONYM_KEY", SECRET)
        unknown = pseudonymise("X-999999", site="huvr")  # the demo's manifests land in cytometry/manifests/HUVR/
    rows = faulty.rows(
        "SELECT patient_key FROM raw.cytometry_samples WHERE _load_id = ? AND _source_row = ?",
        [faulty.load_id(fault.file), fault.row],
    )
    assert rows == [(unknown,)]
    # No REDCap record has that key: the checks, not ingestion, must flag it.
    assert faulty.rows("SELECT count(*) FROM raw.redcap_demographics WHERE patient_key = ?", [unknown]) == [(0,)]


# --- the clean landing ----------------------------------------------------------------------------


def test_clean_landing_has_no_faults_and_no_quarantine(clean):
    assert clean.summary.faults == []
    assert clean.quarantine == []
    for source, report in clean.reports.items():
        assert report.failures == [] and report.rows_quarantined == 0, source


def test_clean_landing_loads_every_file_and_sample(clean):
    assert clean.rows("SELECT count(*) FROM raw.landed_files") == [(clean.summary.files,)]
    assert clean.rows("SELECT count(*) FROM raw.cytometry_samples") == [(clean.summary.samples,)]
    # Every REDCap export row lands in at least one raw table (base rows in several).
    fed = clean.rows(
        " UNION ".join(
            f"SELECT _load_id, _source_row FROM raw.redcap_{form}"
            for form in (
                "demographics",
                "disease_history",
                "leukapheresis",
                "bridging_therapy",
                "marrow_assessment",
                "laboratory",
                "lymphodepletion_infusion",
                "toxicity",
                "response_d28",
                "follow_up_event",
                "follow_up_status",
            )
        )
    )
    assert len(fed) == clean.summary.redcap_rows


# --- the data manager's record map (restricted) ---------------------------------------------------


def _export_rows(run: Ingested, file: str) -> list[dict]:
    with open(run.summary.landing / file, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_record_map_gives_each_pseudonym_its_record_id_in_the_archive_only(faulty):
    path = map_path(faulty.archive)
    assert path.parent == faulty.archive and stat.S_IMODE(path.stat().st_mode) == 0o600
    patients, _ = read_record_map(faulty.archive)
    mapped = {r.patient_key: (r.site, r.record_id) for r in patients.itertuples()}
    export = next(f.file for f in faulty.summary.faults if f.file.startswith("redcap/"))
    records = {r["record_id"] for r in _export_rows(faulty, export)}
    assert len(records) == 24
    for record in records | {"X-999999"}:  # every REDCap record, and the manifest's unknown one
        assert mapped[hmac_pseudonym(SECRET, record, "huvr")] == ("huvr", record)
    # The record id never reaches the warehouse: not the manifest's mistyped one in any text column.
    columns = faulty.rows(
        "SELECT schema_name, table_name, column_name FROM duckdb_columns() "
        "WHERE data_type = 'VARCHAR' AND NOT internal AND database_name <> 'temp'"
    )
    assert [
        c
        for c in columns
        if faulty.rows(f'SELECT count(*) FROM "{c[0]}"."{c[1]}" WHERE "{c[2]}" LIKE \'%X-999999%\'') != [(0,)]
    ] == []


def test_record_map_locates_quarantined_redcap_rows_in_the_edc(faulty):
    _, locations = read_record_map(faulty.archive)
    (duplicate,) = [f for f in faulty.summary.faults if f.kind == "duplicate_row" and f.file.startswith("redcap/")]
    row = _export_rows(faulty, duplicate.file)[duplicate.row - 2]  # the header is row 1
    checksum = faulty.rows("SELECT sha256 FROM raw.landed_files WHERE file = ?", [duplicate.file])[0][0]
    (found,) = [r for r in locations.itertuples() if (r.sha256, r.row) == (checksum, duplicate.row)]
    assert (found.record_id, found.instrument, found.instance) == (
        row["record_id"],
        row["redcap_repeat_instrument"],
        row["redcap_repeat_instance"],
    )

"""Any REDCap project lands: the genuine exports of REDCapR's test projects
(../shared/real-exports/redcap/, read where they are, copied only into the test's own landing
folder) ingest as site raw tables with the rows their data files hold per instrument, event and
instance, counted here independently with the csv module; the broken shapes of issue 13 each
fail with a clear error naming the file, the row and the column."""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path

import pytest

from cartwh.ingest.errors import IngestError
from tests.conftest import Warehouse
from tests.paths import REAL_EXPORTS

REAL = REAL_EXPORTS / "redcap"
PROJECTS = [
    "longitudinal",
    "checkboxes-1",
    "repeating-instruments",
    "survey",
    "dag",
    "decimal-comma-and-dot",
    "validation-types-1",
]
SETUP_FILES = ("event.csv", "arm.csv", "project.xml")

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real-exports is not beside the clone")


def land(landing: Path, project: str, dictionary: str = "dictionary.csv", data: str = "data.csv") -> str:
    """The project's folder as a site lands it: records, dictionary (or the API's metadata.csv), setup."""
    site = project.replace("-", "_")
    target = landing / "redcap" / site
    target.mkdir(parents=True, exist_ok=True)
    source = REAL / project
    shutil.copy(source / dictionary, target / dictionary)
    shutil.copy(source / data, target / "records.csv")
    for name in SETUP_FILES:
        if (source / name).exists():
            shutil.copy(source / name, target / name)
    return site


def dictionary_forms(path: Path) -> tuple[str, dict[str, tuple[str, str]]]:
    """(record id field, field -> (form, type)), from either header the dictionary may have."""
    rows = list(csv.DictReader(open(path, encoding="utf-8-sig", newline="")))
    name = "Variable / Field Name" if "Variable / Field Name" in rows[0] else "field_name"
    form = "Form Name" if name != "field_name" else "form_name"
    kind = "Field Type" if name != "field_name" else "field_type"
    return rows[0][name], {r[name]: (r[form], r[kind]) for r in rows if r[kind] != "descriptive"}


def expected_counts(project: str, dictionary: str = "dictionary.csv") -> Counter:
    """(form, event, instance) -> rows of the data file holding the form: its repeat instrument,
    or (no instrument) a value in one of its fields (a checkbox's columns are `<field>___<code>`)."""
    record_id, fields = dictionary_forms(REAL / project / dictionary)
    rows = list(csv.DictReader(open(REAL / project / "data.csv", encoding="utf-8-sig", newline="")))
    repeating = {r.get("redcap_repeat_instrument") for r in rows} - {None, ""}
    counts = Counter()
    for row in rows:
        instrument = row.get("redcap_repeat_instrument") or ""
        instance = int(row["redcap_repeat_instance"]) if row.get("redcap_repeat_instance") else None
        event = row.get("redcap_event_name") or None
        for form in dict.fromkeys(f for f, _ in fields.values()):
            columns = [
                c
                for c in row
                if c != record_id
                and fields.get(c.split("___")[0], ("",))[0] == form
                and (c in fields or fields[c.split("___")[0]][1] == "checkbox")
            ]
            if form in repeating:
                held = instrument == form
            else:
                held = not instrument and any(row[c].strip() for c in columns)
            if held:
                counts[(form, event, instance)] += 1
    return counts


def landed_counts(wh: Warehouse, site: str) -> Counter:
    counts = Counter()
    prefix = f"redcap_site_{site}__"
    for (table,) in wh.rows(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name LIKE ?", [prefix + "%"]
    ):
        for event, instance, n in wh.rows(
            f"SELECT redcap_event_name, redcap_repeat_instance, count(*) FROM raw.{table} GROUP BY ALL"
        ):
            counts[(table.removeprefix(prefix), event, instance)] = n
    return counts


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "site_1")
    return open_warehouse(Warehouse, "real-exports-test-secret")


@pytest.mark.parametrize("project", PROJECTS)
def test_every_real_project_lands_every_row_once(wh, project):
    dictionary = "metadata.csv" if project == "decimal-comma-and-dot" else "dictionary.csv"  # the API's shape
    site = land(wh.landing, project, dictionary)
    report = wh.ingest()
    assert report.failures == [] and report.rows_quarantined == 0
    expected = expected_counts(project, dictionary)
    assert expected and landed_counts(wh, site) == expected
    # nothing lost: every record of the file is landed or skipped (a row holding no form's data)
    assert report.records_read == report.rows_landed + report.records_skipped


def test_longitudinal_rows_are_keyed_by_event(wh):
    site = land(wh.landing, "longitudinal")
    wh.ingest()
    counts = landed_counts(wh, site)
    # The case: every non-repeating row was once quarantined as "conflicting rows".
    # records 100 and 220 in arm 1, 304 in arm 2 (data.csv); one questionnaire per record and event
    assert counts[("demographics", "enrollment_arm_1", None)] == 2
    assert counts[("demographics", "enrollment_arm_2", None)] == 1
    assert [
        counts[("patient_morale_questionnaire", e, None)]
        for e in ("dose_1_arm_1", "visit_1_arm_1", "dose_2_arm_1", "visit_2_arm_1", "first_dose_arm_2")
    ] == [2, 2, 2, 2, 1]
    assert wh.rows("SELECT count(*) FROM raw.quarantine WHERE row > 1") == [(0,)]


def test_decimal_comma_values_are_numbers(wh):
    site = land(wh.landing, "decimal-comma-and-dot", "metadata.csv")
    wh.ingest()
    rows = wh.rows(
        f"SELECT height_dot, height_comma, weight_comma FROM raw.redcap_site_{site}__demographics ORDER BY _source_row"
    )
    assert rows[:2] == [(1.54, 1.54, 52.3), (1.84, 1.84, 92.3)]


def test_checkbox_columns_as_redcap_writes_them(wh):
    site = land(wh.landing, "checkboxes-1")
    wh.ingest()
    # check_two's codes are upper-case A..E in the dictionary; REDCap writes check_two___a..e.
    rows = wh.rows(
        f"SELECT check_one___1, check_two___a, check_two___b, check_two___c FROM "
        f"raw.redcap_site_{site}__form_2 ORDER BY _source_row"
    )
    assert rows == [
        (True, True, False, True),
        (False, False, True, False),
        (True, False, False, False),
        (False, False, False, False),
    ]


def test_repeating_instruments_and_first_field_named_otherwise(wh):
    site = land(wh.landing, "survey")
    wh.ingest()
    # participant_id is the record id; the survey identifier, the e-mail and the birth date never land
    columns = {r[0] for r in wh.rows(f"DESCRIBE raw.redcap_site_{site}__prescreening_survey")}
    assert {"participant_id", "email", "dob", "redcap_survey_identifier"}.isdisjoint(columns)
    assert wh.rows(
        f"SELECT has_diabetes, consent___1, prescreening_survey_timestamp IS NOT NULL FROM "
        f"raw.redcap_site_{site}__prescreening_survey ORDER BY _source_row"
    ) == [(True, True, True), (False, False, True)]


def test_identifiers_of_a_site_project_never_land(wh):
    land(wh.landing, "longitudinal")
    wh.ingest()
    data = (REAL / "longitudinal" / "data.csv").read_text(encoding="utf-8")
    names = [r["first_name"] for r in csv.DictReader(data.splitlines()) if r["first_name"]]
    dump = str(wh.rows("SELECT * FROM raw.quarantine")) + "".join(
        str(wh.rows(f"SELECT * FROM raw.{t}"))
        for (t,) in wh.rows(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name LIKE 'redcap_site_%'"
        )
    )
    assert names and not any(name in dump for name in names)
    assert "1983-09-23" not in dump and "zlehnox" not in dump


def test_pycap_dataframe_csv_codes_written_as_floats(wh):
    """PyCap's format_type='df' written with DataFrame.to_csv prints integer columns with gaps as
    floats: '2.0'. They load as the codes they are (the issue: 0 rows with exit 0)."""
    site = land(wh.landing, "repeating-instruments")
    records = wh.landing / "redcap" / site / "records.csv"
    rows = list(csv.reader(open(records, encoding="utf-8", newline="")))
    floats = [
        [
            c + ".0" if c.isdigit() and h.endswith(("_complete", "instance", "ethnicity", "sex")) else c
            for h, c in zip(rows[0], row, strict=True)
        ]
        for row in rows[1:]
    ]
    with open(records, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([rows[0], *floats])
    report = wh.ingest()
    assert report.failures == [] and report.rows_quarantined == 0
    assert landed_counts(wh, site) == expected_counts("repeating-instruments")
    assert wh.rows(f"SELECT sex, form_status FROM raw.redcap_site_{site}__demographics ORDER BY _source_row")[0] == (
        "0",
        2,
    )


def test_labels_export_is_refused(wh):
    site = land(wh.landing, "repeating-instruments")
    records = wh.landing / "redcap" / site / "records.csv"
    rows = list(csv.DictReader(open(records, encoding="utf-8", newline="")))
    for row in rows:  # what "export labels" writes: the choice's label, not its code
        row["sex"] = {"0": "Female", "1": "Male"}.get(row["sex"], row["sex"])
    with open(records, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(IngestError) as failed:
        wh.ingest()
    [error] = failed.value.failures
    assert (error.file, error.row, error.column) == (f"redcap/{site}/records.csv", 2, "sex")
    assert "labels export" in str(error) and "rawOrLabel=raw" in str(error)
    assert wh.rows("SELECT count(*) FROM raw.landed_files") == [(0,)]


def test_labels_header_is_refused(wh):
    site = land(wh.landing, "dag")
    records = wh.landing / "redcap" / site / "records.csv"
    text = records.read_text(encoding="utf-8").split("\n", 1)
    records.write_text(text[0].replace("record_id", "Record ID", 1) + "\n" + text[1], encoding="utf-8")
    with pytest.raises(IngestError, match=r"records.csv \(row 1, column 'Record ID'\): a labels export"):
        wh.ingest()


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("dictionary.csv", "", r"dictionary.csv: empty file: not a REDCap data dictionary"),
        ("dictionary.csv", "record_id,form_1\n", r"dictionary.csv \(row 1\): no 'Variable / Field Name'"),
        ("events.json", '[{"event_name": "Day 1"}]', r"events.json \(row 1, column 'arm_num'\): required key missing"),
    ],
)
def test_unusable_metadata_fails_the_folder_naming_the_file(wh, file, content, message):
    site = land(wh.landing, "checkboxes-1")
    (wh.landing / "redcap" / site / file).write_text(content, encoding="utf-8")
    with pytest.raises(IngestError, match=message):
        wh.ingest()
    assert wh.rows("SELECT count(*) FROM raw.landed_files") == [(0,)]


def test_dictionary_version_is_recorded_and_a_change_is_a_new_version(wh):
    from cartwh.warehouse.project_versions import dictionary_changes

    site = land(wh.landing, "checkboxes-1")
    wh.ingest()
    folder = wh.landing / "redcap" / site
    dictionary = (folder / "dictionary.csv").read_text(encoding="utf-8-sig")
    changed = dictionary.replace('check two","a, A|b, B|c, C|d, D|e, E"', 'check two","a, A|b, B|c, C|d, D"')
    (folder / "dictionary.csv").write_text(
        changed + 'new_score,form_2,,text,"Score",,,integer,,,,,,,,,,\n', encoding="utf-8"
    )
    with open(folder / "records.csv", "a", encoding="utf-8") as handle:  # a new version of the records (a blank line)
        handle.write("\n")
    wh.ingest()
    versions = wh.rows("SELECT count(DISTINCT dictionary_sha256), count(*) FROM raw.landed_file_projects")
    assert versions == [(2, 2)]
    assert dictionary_changes(wh.con) == [
        {
            "project": site,
            "first_load_id": 2,
            "added": ["new_score"],
            "removed": [],
            "retyped": [],
            "choices_changed": ["check_two"],
        }
    ]


def test_the_quality_report_shows_a_changed_dictionary(wh, tmp_path):
    from cartwh.quality.quality_report import quality_context, write_quality_report

    site = land(wh.landing, "checkboxes-1")
    wh.ingest()
    folder = wh.landing / "redcap" / site
    text = (folder / "dictionary.csv").read_text(encoding="utf-8-sig")
    (folder / "dictionary.csv").write_text(
        text.replace("desired_result,form_2,,notes", "desired_result,form_2,,text"), encoding="utf-8"
    )
    with open(folder / "records.csv", "a", encoding="utf-8") as handle:
        handle.write("\n")
    wh.ingest()
    q = quality_context(wh.con)
    assert [(c["project"], c["retyped"]) for c in q["dictionary_changes"]] == [(site, ["desired_result"])]
    page = write_quality_report(wh.con, tmp_path / "reports", tmp_path / "gx").read_text(encoding="utf-8")
    assert "REDCap dictionary changes" in page and "<td>desired_result</td>" in page


def test_a_repeating_event_of_the_shipped_project_doubles_nothing(wh):
    """The issue's case: the shipped dictionary exported from a longitudinal copy of the project
    with a repeating monitoring event (instance set, instrument empty). The record's one
    demographics row lands once; each visit's labs are laboratory instances 1, 2 in event order."""
    import json

    folder = wh.landing / "redcap"
    folder.mkdir(parents=True)
    events = ["screening_arm_1", "day_7_arm_1", "monitoring_arm_1"]
    (folder / "events.json").write_text(
        json.dumps([{"event_name": e, "arm_num": 1, "unique_event_name": e} for e in events])
    )
    (folder / "repeating_forms_events.json").write_text(
        json.dumps([{"event_name": "monitoring_arm_1", "form_name": ""}])
    )
    header = (
        "record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,sex,demographics_complete,"
        "lab_date,anc_value,anc_unit,laboratory_complete"
    )
    rows = [
        "7,screening_arm_1,,,2,2,,,,",
        "7,monitoring_arm_1,,2,,,2024-03-01,1.5,1,2",
        "7,day_7_arm_1,,,,,2024-01-08,0.5,1,2",
        "7,monitoring_arm_1,,1,,,2024-02-01,1.1,1,2",
    ]
    (folder / "site_1_records.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    report = wh.ingest()
    assert report.failures == [] and report.rows_quarantined == 0
    assert wh.rows("SELECT sex, redcap_event_name FROM raw.redcap_demographics") == [("2", "screening_arm_1")]
    assert wh.rows(
        "SELECT redcap_repeat_instance, lab_date::VARCHAR, redcap_event_name FROM raw.redcap_laboratory ORDER BY 1"
    ) == [
        (1, "2024-01-08", "day_7_arm_1"),
        (2, "2024-02-01", "monitoring_arm_1"),
        (3, "2024-03-01", "monitoring_arm_1"),
    ]


def test_a_bad_contact_detail_is_set_aside_without_its_value(wh):
    site = land(wh.landing, "validation-types-1")
    records = wh.landing / "redcap" / site / "records.csv"
    rows = list(csv.DictReader(open(records, encoding="utf-8", newline="")))
    rows[0]["v_email"] = "quentin.ardmore at example.org"  # not an e-mail address: breaks the validation
    with open(records, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    wh.ingest()
    assert wh.rows("SELECT row, column_name, value FROM raw.quarantine WHERE row > 1") == [(2, "v_email", None)]
    assert "ardmore" not in str(wh.rows("SELECT * FROM raw.quarantine"))


def test_times_and_text_validations_are_checked(wh):
    site = land(wh.landing, "validation-types-1")
    records = wh.landing / "redcap" / site / "records.csv"
    rows = list(csv.DictReader(open(records, encoding="utf-8", newline="")))
    rows[0] |= {"v_time_hh_mm": "25:99", "v_time_hh_mm_ss": "12:30:15", "v_time_mm_ss": "05:30", "v_alpha_only": "abc1"}
    with open(records, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    wh.ingest()
    assert wh.rows("SELECT row, column_name, reason, value FROM raw.quarantine WHERE row > 1 ORDER BY column_name") == [
        (2, "v_alpha_only", "not a valid value of its text validation (alpha_only) [form form_1]", "abc1"),
        (2, "v_time_hh_mm", "not a time (HH:MM[:SS]) [form form_1]", "25:99"),
    ]
    assert wh.rows(f"SELECT count(*) FROM raw.redcap_site_{site}__form_1") == [(0,)]  # its only form: set aside
    rows[0] |= {"v_time_hh_mm": "07:05", "v_alpha_only": "abc"}  # corrected and exported again
    with open(records, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    wh.ingest()
    assert wh.rows(
        f"SELECT v_time_hh_mm::VARCHAR, v_time_hh_mm_ss::VARCHAR, v_time_mm_ss, v_alpha_only FROM "
        f"raw.redcap_site_{site}__form_1"
    ) == [("07:05:00", "12:30:15", "05:30", "abc")]


def test_source_health_counts_a_site_projects_own_tables(wh):
    """A site project's file with one bad row is not "all quarantined": its rows landed in the
    site's own tables."""
    from expectations.source_health import file_findings, thresholds

    site = land(wh.landing, "repeating-instruments")
    records = wh.landing / "redcap" / site / "records.csv"
    text = records.read_text(encoding="utf-8").split("\n")
    text[1] = text[1].replace("2019-10-14", "2019-13-14", 1)  # one bad date: its row is set aside from its form
    records.write_text("\n".join(text), encoding="utf-8")
    wh.ingest()
    assert wh.rows("SELECT count(DISTINCT row) FROM raw.quarantine WHERE row > 1") == [(1,)]
    assert file_findings(wh.con, thresholds()) == []

"""Any REDCap project's metadata, read from the files REDCap itself writes.

The projects are REDCapR's test projects, exported from a live REDCap server (kept beside the
repository in ../shared/real-exports/redcap/). What the tests expect is counted from those files
here, with the csv module, not taken from the readers under test; the export header of each
project's data.csv is the independent check of the checkbox, survey and completion-column rules.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from cartwh.contract.redcap import DataDictionary, ExportLayout
from cartwh.contract.redcap_dictionary import MetadataError, parse_choice_list, parse_dictionary, read_dictionary
from cartwh.contract.redcap_project import (
    parse_arms,
    parse_events,
    parse_form_events,
    parse_repeating,
    read_project_xml,
)
from cartwh.contract.redcap_types import VALIDATION_RULES, checkbox_export_code, value_rule
from tests.paths import REAL_EXPORTS

EXPORTS = REAL_EXPORTS / "redcap"
PROJECTS = sorted(p.name for p in EXPORTS.iterdir()) if EXPORTS.exists() else []
pytestmark = pytest.mark.skipif(not PROJECTS, reason="../shared/real-exports/redcap is not beside the repository")


def _csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle))


def _layout(project: str) -> ExportLayout:
    xml = EXPORTS / project / "project.xml"
    return read_project_xml(xml).export_layout() if xml.exists() else ExportLayout()


# --- the dictionary ------------------------------------------------------------------------------


@pytest.mark.parametrize("project", PROJECTS)
def test_every_project_parses_with_its_field_counts_per_form(project):
    rows = _csv(EXPORTS / project / "dictionary.csv")
    expected = Counter(r["Form Name"] for r in rows if r["Field Type"] != "descriptive")
    dictionary = read_dictionary(EXPORTS / project / "dictionary.csv")
    assert Counter(f.form for f in dictionary.fields) == expected
    assert dictionary.record_id_field == rows[0]["Variable / Field Name"]


@pytest.mark.parametrize("project", PROJECTS)
def test_export_header_of_data_csv_is_what_the_dictionary_predicts(project):
    dictionary = read_dictionary(EXPORTS / project / "dictionary.csv")
    assert dictionary.record_export_columns(_layout(project)) == _header(EXPORTS / project / "data.csv")


def test_record_id_fields_named_otherwise_are_the_first_field():
    assert read_dictionary(EXPORTS / "longitudinal" / "dictionary.csv").record_id_field == "study_id"
    assert read_dictionary(EXPORTS / "survey" / "dictionary.csv").record_id_field == "participant_id"


def _without_ranges(dictionary: DataDictionary) -> list[tuple]:
    return [(f.name, f.form, f.field_type, f.label, f.choices, f.validation, f.identifier) for f in dictionary.fields]


def test_api_metadata_csv_reads_as_the_ui_download():
    folder = EXPORTS / "decimal-comma-and-dot"
    api, ui = read_dictionary(folder / "metadata.csv"), read_dictionary(folder / "dictionary.csv")
    assert _without_ranges(api) == _without_ranges(ui)
    # The two files really differ in one thing: the download lacks height_comma's range (0 to 3).
    assert [(f.name, f.minimum, f.maximum) for f in api.fields if f.minimum is not None] == [
        ("height_dot", 0, 3),
        ("height_comma", 0, 3),
        ("weight_dot", 35, 200),
        ("weight_comma", 35, 200),
    ]
    assert [f.name for f in ui.fields if f.minimum is not None] == [
        r["Variable / Field Name"] for r in _csv(folder / "dictionary.csv") if r["Text Validation Min"]
    ]
    assert "height_comma" not in [f.name for f in ui.fields if f.minimum is not None]


def test_api_metadata_json_reads_as_the_ui_download(tmp_path):
    # The API's JSON metadata is a list of objects keyed by the same snake_case names as its CSV.
    folder = EXPORTS / "decimal-comma-and-dot"
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(_csv(folder / "metadata.csv")))
    assert read_dictionary(path) == read_dictionary(folder / "metadata.csv")


def test_validation_types_project_maps_every_type():
    dictionary = read_dictionary(EXPORTS / "validation-types-1" / "dictionary.csv")
    types = {f.name: f.sql_type for f in dictionary.fields}
    assert "f_descriptive" not in types
    assert {
        n: types[n]
        for n in (
            "f_calculated",
            "f_slider",
            "f_true_false",
            "f_yes_no",
            "f_sql",
            "f_file_upload",
            "f_signature",
            "f_notes",
            "f_radio",
            "f_dropdown",
        )
    } == {
        "f_calculated": "DOUBLE",
        "f_slider": "BIGINT",
        "f_true_false": "BOOLEAN",
        "f_yes_no": "BOOLEAN",
        "f_sql": "VARCHAR",
        "f_file_upload": "VARCHAR",
        "f_signature": "VARCHAR",
        "f_notes": "VARCHAR",
        "f_radio": "VARCHAR",
        "f_dropdown": "VARCHAR",
    }
    for name in ("v_date_dmy", "v_date_mdy", "v_date_ymd"):
        assert types[name] == "DATE"
    for name in (
        "v_datetime_dmy",
        "v_datetime_mdy",
        "v_datetime_ymd",
        "v_datetime_seconds_dmy",
        "v_datetime_seconds_mdy",
        "v_datetime_seconds_ymd",
    ):
        assert types[name] == "TIMESTAMP"
    assert [types[n] for n in ("v_time_hh_mm", "v_time_hh_mm_ss", "v_time_mm_ss")] == ["TIME", "TIME", "VARCHAR"]
    assert types["v_integer"] == "BIGINT"
    assert {types[n] for n in types if n.startswith("v_number")} == {"DOUBLE"}
    # Every validation type the project uses is one cartwh knows (none falls back to plain text).
    rows = _csv(EXPORTS / "validation-types-1" / "dictionary.csv")
    validations = {r["Text Validation Type OR Show Slider Number"] for r in rows if r["Field Type"] == "text"} - {""}
    assert validations <= set(VALIDATION_RULES)
    # calc, slider and sql keep no "choices": their column holds a formula, labels or a query.
    assert [dictionary.field(n).choices for n in ("f_calculated", "f_slider", "f_sql")] == [(), (), ()]
    assert dictionary.field("f_checkbox").choices == (("0", "Zero"), ("1", "One"), ("2", "Two"))


@pytest.mark.parametrize(
    "validation, good, bad",
    [
        ("date_dmy", "2024-12-31", "31-12-2024"),  # raw exports are ISO whatever the entry format
        ("datetime_mdy", "2024-12-31 23:59", "12-31-2024 23:59"),
        ("datetime_seconds_ymd", "2024-12-31 23:59:30", "2024-12-31 23:59"),
        ("time", "07:05", "7:05:00"),
        ("time_mm_ss", "59:59", "1:00:00"),
        ("integer", "-12", "1.0"),
        ("number", "1.5e3", "1,5"),
        ("number_2dp", "3.14", "3.1"),
        ("number_comma_decimal", "1,54", "1.54"),
        ("number_1dp_comma_decimal", "52,3", "52,30"),
        ("email", "a.b@example.org", "a.b@example"),
        ("zipcode", "37212-1234", "3721"),
        ("phone", "(615) 322-5000", "322-5000"),
    ],
)
def test_value_rules_of_exported_text(validation, good, bad):
    rule = value_rule("text", validation)
    assert rule.matches(good) and not rule.matches(bad)


def test_comma_decimal_values_of_the_real_export_equal_their_dot_twins():
    rule = value_rule("text", "number_comma_decimal")
    for row in _csv(EXPORTS / "decimal-comma-and-dot" / "data.csv"):
        for dot, comma in (("height_dot", "height_comma"), ("weight_dot", "weight_comma")):
            assert rule.matches(row[comma])
            assert float(rule.sql_text(row[comma])) == float(row[dot])


@pytest.mark.parametrize(
    "code, column", [("1", "1"), ("ABC", "abc"), ("-1", "_1"), ("1.5", "1_5"), ("a b/c", "abc"), ("x_y", "x_y")]
)
def test_checkbox_codes_as_redcap_writes_them_in_column_names(code, column):
    assert checkbox_export_code(code) == column


# --- bad or unusual dictionaries -----------------------------------------------------------------

HEADER = (
    '"Variable / Field Name","Form Name","Section Header","Field Type","Field Label",'
    '"Choices, Calculations, OR Slider Labels"\n'
)


def _parse(text: str, name="site_a/dictionary.csv"):
    return parse_dictionary(text.encode("utf-8"), name)


def test_bom_and_trailing_blank_lines_are_tolerated():
    text = "\ufeff" + HEADER + 'pid,enrol,,text,ID,\nsymptoms,enrol,,checkbox,S,"A, Fever | B, Rash"\n\n,,,,,\n\n'
    d = parse_dictionary(text.encode(), "d.csv")
    assert [f.name for f in d.fields] == ["pid", "symptoms"]
    assert d.record_export_columns() == ["pid", "symptoms___a", "symptoms___b", "enrol_complete"]


def test_no_field_column_fails_naming_file_and_header_row():
    with pytest.raises(MetadataError) as error:
        _parse("name,form\npid,enrol\n")
    assert str(error.value).startswith("site_a/dictionary.csv (row 1): no 'Variable / Field Name'")


def test_duplicate_field_name_fails_with_row_and_column():
    with pytest.raises(MetadataError) as error:
        _parse(HEADER + "pid,enrol,,text,ID,\nage,enrol,,text,Age,\nage,visit,,text,Age,\n")
    where = (error.value.file, error.value.row, error.value.column)
    assert where == ("site_a/dictionary.csv", 4, "Variable / Field Name")
    assert "defined twice (first in row 3)" in str(error.value)


@pytest.mark.parametrize(
    "choices, reason",
    [
        ("", "no choices"),
        ("1, A | | 2, B", "choice 2 is empty"),
        (", A | 2, B", "has no code"),
        ("1, A | 1, B", "same code"),
        ("A, x | a, y", "same code"),
    ],
)
def test_choice_string_that_does_not_parse_fails_with_row_and_column(choices, reason):
    with pytest.raises(MetadataError) as error:
        _parse(HEADER + f'pid,enrol,,text,ID,\nsex,enrol,,radio,Sex,"{choices}"\n')
    assert (error.value.row, error.value.column) == (3, "Choices, Calculations, OR Slider Labels")
    assert reason in str(error.value)


def test_api_spelling_is_used_in_errors_of_an_api_dictionary():
    with pytest.raises(MetadataError) as error:
        _parse("field_name,form_name,field_type\npid,enrol,text\nx,enrol,textbox\n")
    assert (error.value.row, error.value.column) == (3, "field_type")


def test_choice_item_without_comma_is_its_own_code_as_redcap_reads_it():
    assert parse_choice_list("Yes | No |") == (("Yes", "Yes"), ("No", "No"))


# --- longitudinal and repeating setup ------------------------------------------------------------


def test_longitudinal_events_and_arms_from_the_api_csv_match_project_xml():
    folder = EXPORTS / "longitudinal"
    api_events = parse_events((folder / "event.csv").read_bytes(), "event.csv")
    xml = read_project_xml(folder / "project.xml")
    rows = _csv(folder / "event.csv")
    assert [(e.unique_event_name, e.label, e.arm) for e in api_events] == [
        (r["unique_event_name"], r["event_name"], int(r["arm_num"])) for r in rows
    ]
    assert [(e.unique_event_name, e.label, e.arm) for e in xml.events] == [
        (e.unique_event_name, e.label, e.arm) for e in api_events
    ]
    assert [(a.number, a.name) for a in parse_arms((folder / "arm.csv").read_bytes(), "arm.csv")] == [
        (1, "Drug A"),
        (2, "Drug B"),
    ]
    assert [(a.number, a.name) for a in xml.arms] == [(1, "Drug A"), (2, "Drug B")]
    # Day offsets are only in project.xml (this server's event export leaves them out).
    assert [e.day_offset for e in xml.events if e.arm == 1] == [0, 1, 3, 8, 10, 30]
    assert (xml.event("first_visit_arm_2").offset_min, xml.event("first_visit_arm_2").offset_max) == (2, 2)


def test_longitudinal_form_event_mapping_covers_every_row_of_the_data():
    folder = EXPORTS / "longitudinal"
    xml = read_project_xml(folder / "project.xml")
    dictionary = read_dictionary(folder / "dictionary.csv")
    xml.check_against(dictionary.forms, "project.xml")
    assert xml.event_forms("enrollment_arm_1") == ("demographics", "contact_info", "baseline_data")
    assert len(xml.form_events) == 25  # <FormRef> elements in the file's <StudyEventDef>s
    rows = _csv(folder / "data.csv")
    assert {r["redcap_event_name"] for r in rows} <= {e.unique_event_name for e in xml.events}
    assert Counter(r["study_id"] for r in rows) == {"100": 6, "220": 6, "304": 6}


def test_form_event_mapping_and_repeating_setup_from_the_api_json():
    entries = [
        {"arm_num": 1, "unique_event_name": "day_28_arm_1", "form": "marrow"},
        {"arm_num": "1", "unique_event_name": "m3_arm_1", "form": "marrow"},
    ]  # REDCap writes either
    mapping = parse_form_events(json.dumps(entries).encode(), "fem.json", json_text=True)
    assert [(m.arm, m.unique_event_name, m.form) for m in mapping] == [
        (1, "day_28_arm_1", "marrow"),
        (1, "m3_arm_1", "marrow"),
    ]
    text = b"event_name,form_name,custom_form_label\nvisit_arm_1,,\nbaseline_arm_1,labs,[lab_date]\n"
    repeating = parse_repeating(text, "repeating.csv")
    expected = [("visit_arm_1", "", ""), ("baseline_arm_1", "labs", "[lab_date]")]  # a repeating event, a form
    assert [(r.event, r.form, r.custom_label) for r in repeating] == expected


def test_repeating_instruments_project(tmp_path):
    folder = EXPORTS / "repeating-instruments"
    setup = read_project_xml(folder / "project.xml")
    assert setup.repeating_forms == (("", "bp"),) and setup.repeating_events == () and not setup.longitudinal
    rows = _csv(folder / "data.csv")
    assert Counter(r["redcap_repeat_instrument"] for r in rows) == {"": 2, "bp": 4}


def test_project_xml_reader_never_reads_the_clinical_data(tmp_path):
    # A project file whose data part is broken still gives its metadata: the reader stops before it.
    text = (EXPORTS / "dag" / "project.xml").read_text(encoding="utf-8")
    cut = text.index("<ClinicalData")
    (tmp_path / "project.xml").write_text(text[:cut] + "<ClinicalData><SubjectData  broken & not xml")
    assert read_project_xml(tmp_path / "project.xml").data_access_groups == ("dag-a", "dag-b")


def test_event_export_missing_a_column_fails_with_file_row_and_column():
    with pytest.raises(MetadataError) as error:
        parse_events(b"event_name,arm_num\nBaseline,1\n", "site_a/events.csv")
    assert str(error.value) == (
        "site_a/events.csv (row 1, column 'unique_event_name'): required column missing: unique_event_name"
    )


def test_json_entry_missing_a_key_fails_with_its_entry_number():
    with pytest.raises(MetadataError) as error:
        parse_arms(b'[{"arm_num": 1, "name": "A"}, {"arm_num": 2}]', "site_a/arms.json", json_text=True)
    assert (error.value.row, error.value.column) == (2, "name")

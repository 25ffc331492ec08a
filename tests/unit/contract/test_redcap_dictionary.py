"""The REDCap data dictionary contract (cartwh/contract/redcap.py)."""

from __future__ import annotations

import csv

import pytest

from cartwh.contract.redcap import Field, parse_choices
from cartwh.contract.redcap_dictionary import project_dictionary, read_dictionary

# The header row of a REDCap data dictionary download, exactly as REDCap writes it.
REDCAP_HEADER = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]


def field(name="f", field_type="text", validation="", choices=(), form="form_a", identifier=False) -> Field:
    return Field(name, form, field_type, name, tuple(choices), validation, None, None, identifier)


# --- parse_choices -------------------------------------------------------------------------------


def test_parse_choices_simple():
    assert parse_choices("1, Male | 2, Female") == (("1", "Male"), ("2", "Female"))


def test_parse_choices_label_with_commas_keeps_whole_label():
    text = "1, Fludarabine, cyclophosphamide | 2, Other, unspecified, see notes"
    assert parse_choices(text) == (("1", "Fludarabine, cyclophosphamide"), ("2", "Other, unspecified, see notes"))


def test_parse_choices_tolerates_missing_spaces_and_trailing_separator():
    assert parse_choices("0,None|1 ,Grade 1 |") == (("0", "None"), ("1", "Grade 1"))


def test_parse_choices_non_numeric_codes():
    assert parse_choices("pb, peripheral blood | bm, bone marrow") == (
        ("pb", "peripheral blood"),
        ("bm", "bone marrow"),
    )


@pytest.mark.parametrize("text", ["", None, "  ", " | "])
def test_parse_choices_empty(text):
    assert parse_choices(text) == ()


# --- Field.sql_type ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field_type, validation, expected",
    [
        ("yesno", "", "BOOLEAN"),
        ("truefalse", "", "BOOLEAN"),
        ("calc", "", "DOUBLE"),
        ("text", "date_ymd", "DATE"),
        ("text", "date_mdy", "DATE"),
        ("text", "date_dmy", "DATE"),
        ("text", "datetime_ymd", "TIMESTAMP"),
        ("text", "datetime_mdy", "TIMESTAMP"),
        ("text", "datetime_dmy", "TIMESTAMP"),
        ("text", "datetime_seconds_ymd", "TIMESTAMP"),
        ("text", "integer", "BIGINT"),
        ("text", "number", "DOUBLE"),
        ("text", "number_1dp", "DOUBLE"),
        ("text", "number_2dp", "DOUBLE"),
        ("text", "number_3dp", "DOUBLE"),
        ("text", "number_4dp", "DOUBLE"),
        ("text", "", "VARCHAR"),
        ("text", "email", "VARCHAR"),
        ("notes", "", "VARCHAR"),
        ("radio", "", "VARCHAR"),
        ("dropdown", "", "VARCHAR"),
        ("checkbox", "", "VARCHAR"),
    ],
)
def test_sql_type(field_type, validation, expected):
    assert field(field_type=field_type, validation=validation).sql_type == expected


@pytest.mark.parametrize("validation", ["datetime_seconds_mdy", "datetime_seconds_dmy"])
def test_sql_type_datetime_seconds_non_ymd(validation):
    assert field(validation=validation).sql_type == "TIMESTAMP"


def test_coded_fields():
    assert field(field_type="radio").is_coded
    assert field(field_type="dropdown").is_coded
    assert not field(field_type="checkbox").is_coded
    assert not field(field_type="yesno").is_coded
    assert not field(field_type="text").is_coded


# --- export columns ------------------------------------------------------------------------------


def test_checkbox_export_columns_one_per_code_in_choice_order():
    f = field("anticytokine", "checkbox", choices=parse_choices("1, Tocilizumab | 2, Steroids | 4, Siltuximab"))
    assert f.export_columns == ("anticytokine___1", "anticytokine___2", "anticytokine___4")


def test_checkbox_export_columns_keep_non_numeric_codes():
    f = field("site", "checkbox", choices=(("pb", "Blood"), ("bm", "Marrow")))
    assert f.export_columns == ("site___pb", "site___bm")


def test_non_checkbox_export_column_is_the_field_name():
    assert field("sex", "radio", choices=(("1", "Male"), ("2", "Female"))).export_columns == ("sex",)
    assert field("dob", validation="date_ymd").export_columns == ("dob",)


def test_shipped_anticytokine_checkbox_columns():
    assert project_dictionary().field("anticytokine").export_columns == (
        "anticytokine___1",
        "anticytokine___2",
        "anticytokine___3",
        "anticytokine___4",
    )


# --- read_dictionary of a hand-written dictionary -------------------------------------------------


def _row(name, form, field_type, label, choices="", validation="", vmin="", vmax="", identifier=""):
    cells = dict.fromkeys(REDCAP_HEADER, "")
    cells.update(
        {
            "Variable / Field Name": name,
            "Form Name": form,
            "Field Type": field_type,
            "Field Label": label,
            "Choices, Calculations, OR Slider Labels": choices,
            "Text Validation Type OR Show Slider Number": validation,
            "Text Validation Min": vmin,
            "Text Validation Max": vmax,
            "Identifier?": identifier,
        }
    )
    return [cells[h] for h in REDCAP_HEADER]


@pytest.fixture
def tiny_dictionary(tmp_path):
    path = tmp_path / "dictionary.csv"
    rows = [
        _row("study_id", "enrolment", "text", "Study ID"),
        _row("full_name", "enrolment", "text", "Name", identifier="y"),
        _row("dob", "enrolment", "text", "Date of birth", validation="date_ymd", identifier="Y"),
        _row("intro", "enrolment", "descriptive", "Please fill in the enrolment form"),
        _row("arm", "enrolment", "radio", "Arm", choices="1, A, low dose | 2, B"),
        _row("score", "visit", "text", "Score", validation="number", vmin="0", vmax="10.5"),
        _row("n_doses", "visit", "text", "Doses", validation="integer", vmin="1"),
        _row("symptoms", "visit", "checkbox", "Symptoms", choices="1, Fever | 2, Rash | 3, Cough"),
        _row("smoker", "visit", "yesno", "Smoker"),
        _row("notes", "visit", "notes", "Notes"),
    ]
    # REDCap downloads carry a UTF-8 byte order mark: it must not end up in the first header cell.
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(REDCAP_HEADER)
        writer.writerows(rows)
    return read_dictionary(path)


def test_read_skips_descriptive_fields(tiny_dictionary):
    assert [f.name for f in tiny_dictionary.fields] == [
        "study_id",
        "full_name",
        "dob",
        "arm",
        "score",
        "n_doses",
        "symptoms",
        "smoker",
        "notes",
    ]


def test_read_field_attributes(tiny_dictionary):
    d = tiny_dictionary
    assert d.field("study_id") == Field("study_id", "enrolment", "text", "Study ID", (), "", None, None, False)
    assert d.field("dob") == Field("dob", "enrolment", "text", "Date of birth", (), "date_ymd", None, None, True)
    assert d.field("arm").choices == (("1", "A, low dose"), ("2", "B"))
    score = d.field("score")
    assert (score.form, score.validation, score.minimum, score.maximum, score.sql_type) == (
        "visit",
        "number",
        0.0,
        10.5,
        "DOUBLE",
    )
    n_doses = d.field("n_doses")
    assert (n_doses.minimum, n_doses.maximum, n_doses.sql_type) == (1.0, None, "BIGINT")
    assert d.field("smoker").sql_type == "BOOLEAN"
    assert d.field("notes").sql_type == "VARCHAR"


def test_read_identifier_flag_case_insensitive(tiny_dictionary):
    assert [f.name for f in tiny_dictionary.fields if f.identifier] == ["full_name", "dob"]


def test_forms_in_dictionary_order(tiny_dictionary):
    assert tiny_dictionary.forms == ("enrolment", "visit")


def test_form_fields_exclude_record_id():
    d = project_dictionary()
    assert "record_id" not in [f.name for f in d.form_fields("demographics")]
    assert [f.name for f in d.form_fields("demographics")] == [
        "patient_name",
        "mrn",
        "birth_date",
        "sex",
        "consent_date",
    ]


def test_export_header_of_tiny_dictionary(tiny_dictionary):
    # The first field of a dictionary is the record id, whatever its name (issue 13): not a form field.
    assert tiny_dictionary.export_header() == [
        "study_id",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
        "redcap_data_access_group",
        "full_name",
        "dob",
        "arm",
        "enrolment_complete",
        "score",
        "n_doses",
        "symptoms___1",
        "symptoms___2",
        "symptoms___3",
        "smoker",
        "notes",
        "visit_complete",
    ]


def test_export_header_record_id_listed_once(tmp_path):
    path = tmp_path / "dictionary.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REDCAP_HEADER)
        writer.writerow(_row("record_id", "demo", "text", "Record ID"))
        writer.writerow(_row("sex", "demo", "radio", "Sex", choices="1, Male | 2, Female"))
        writer.writerow(_row("visit_date", "visit", "text", "Date", validation="date_ymd"))
    assert read_dictionary(path).export_header() == [
        "record_id",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
        "redcap_data_access_group",
        "sex",
        "demo_complete",
        "visit_date",
        "visit_complete",
    ]


# --- the shipped dictionary ----------------------------------------------------------------------


def test_shipped_identifiers_are_exactly_name_mrn_birth_date():
    assert [f.name for f in project_dictionary().fields if f.identifier] == ["patient_name", "mrn", "birth_date"]


def test_shipped_export_header_starts_with_meta_columns_and_closes_each_form():
    d = project_dictionary()
    header = d.export_header()
    assert header[:4] == ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance", "redcap_data_access_group"]
    assert header.count("record_id") == 1
    assert header[-1] == "follow_up_status_complete"
    assert header[4:11] == [
        "patient_name",
        "mrn",
        "birth_date",
        "sex",
        "consent_date",
        "demographics_complete",
        "diagnosis_date",
    ]
    assert [h for h in header if h.endswith("_complete")] == [f"{form}_complete" for form in d.forms]
    assert len(header) == len(set(header))


def test_shipped_field_types():
    d = project_dictionary()
    assert d.field("birth_date").sql_type == "DATE"
    assert d.field("prior_lines").sql_type == "BIGINT"
    assert (d.field("prior_lines").minimum, d.field("prior_lines").maximum) == (1.0, 15.0)
    assert d.field("bm_blasts_pct").sql_type == "DOUBLE"
    assert (d.field("bm_blasts_pct").minimum, d.field("bm_blasts_pct").maximum) == (0.0, 100.0)
    assert d.field("tp53_mutated").sql_type == "BOOLEAN"
    assert d.field("sex").choices == (("1", "Male"), ("2", "Female"))
    assert d.field("cytogenetics").choices[-1] == ("99", "Not available")

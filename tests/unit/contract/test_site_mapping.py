"""A site's mapping onto the canonical dictionary (cartwh/contract/site_mapping.py): checked
before any row lands, every error naming the mapping file and its line; and a mapped
longitudinal site landing in the canonical tables (cartwh/ingest/redcap_loader.py), its
repeating-event instances numbered per record in event order, problems naming the site's column."""

from __future__ import annotations

import json

import pytest

from cartwh.contract.redcap_dictionary import parse_dictionary, project_dictionary
from cartwh.contract.site_mapping import MappingError, read_mapping
from cartwh.ingest.errors import IngestError
from tests.conftest import Warehouse, hmac_pseudonym

SITE_DICTIONARY = """\ufeff"Variable / Field Name","Form Name","Section Header","Field Type","Field Label","Choices, Calculations, OR Slider Labels","Field Note","Text Validation Type OR Show Slider Number","Text Validation Min","Text Validation Max","Identifier?"
pid,enrol,,text,"Participant",,,,,,
p_sex,enrol,,radio,"Sex","M, Male | F, Female",,,,,
p_consent,enrol,,text,"Consent",,,date_ymd,,,
p_weight,enrol,,text,"Weight (kg)",,,number,,,
p_note,enrol,,notes,"Note",,,,,,
l_date,lab,,text,"Lab date",,,date_ymd,,,
l_anc,lab,,text,"ANC",,,number,,,
l_crp,lab,,text,"CRP",,,number_comma_decimal,,,
l_crp_unit,lab,,radio,"CRP unit","mgl, mg/L | mgdl, mg/dL",,,,,
t_drugs,tox,,checkbox,"Drugs","TOCI, Tocilizumab | STER, Steroids | ANA, Anakinra | SIL, Siltuximab",,,,,
"""
EVENTS = ["screening_arm_1", "day_7_arm_1", "monitoring_arm_1"]
MAPPING = """\
fields:
  p_sex:
    to: sex
    choices: {M: "1", F: "2"}
  p_consent: consent_date
  l_date: lab_date
  l_anc: anc_value
  l_crp: crp_value
  l_crp_unit:
    to: crp_unit
    choices: {mgl: "2", mgdl: "1"}
  t_drugs:
    to: anticytokine
    choices: {TOCI: "1", STER: "2", ANA: "3", SIL: "4"}
events:
  screening_arm_1: [demographics, toxicity]
  day_7_arm_1: [laboratory]
  monitoring_arm_1: [laboratory]
units:
  l_anc: "1"
"""


def site():
    return parse_dictionary(SITE_DICTIONARY.encode(), "dictionary.csv")


def check(text: str):
    return read_mapping(text, "redcap/ulm/mapping.yml", site(), project_dictionary(), tuple(EVENTS))


def test_a_reviewed_mapping_reads():
    m = check(MAPPING)
    assert [(f.site, f.canonical) for f in m.fields][:3] == [
        ("p_sex", "sex"),
        ("p_consent", "consent_date"),
        ("l_date", "lab_date"),
    ]
    assert m.for_site_field("p_sex").choices == {"M": "1", "F": "2"}
    assert m.events["day_7_arm_1"] == ("laboratory",) and m.units == {"l_anc": "1"}


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        (
            "  p_consent: consent_date",
            "  p_consnt: consent_date",
            5,
            "'p_consnt' is not a field of the site's dictionary",
        ),
        ("  l_date: lab_date", "  l_date: lab_day", 6, "'lab_day' is not a field of the canonical dictionary"),
        ('    choices: {M: "1", F: "2"}', '    choices: {M: "1"}', 2, "site code 'F' of 'p_sex' is not mapped"),
        (
            '    choices: {M: "1", F: "2"}',
            '    choices: {M: "1", F: "3"}',
            4,
            "'3' is not a code of canonical field 'sex'",
        ),
        (
            '    choices: {M: "1", F: "2"}',
            '    choices: {M: "1", X: "2"}',
            4,
            "'X' is not a code of site field 'p_sex'",
        ),
        (
            "  l_anc: anc_value",
            "  l_anc: consent_date",
            7,
            "'l_anc' (text, number) cannot carry canonical 'consent_date'",
        ),
        ("  p_consent: consent_date", "  p_weight: sex", 5, "'p_weight' (text, number) cannot carry canonical 'sex'"),
        ("  p_consent: consent_date", "  p_note: consent_date", 5, "varchar values are not date values"),
        ("  l_date: lab_date", "  l_date: consent_date", 6, "canonical field 'consent_date' is mapped twice"),
        ("  day_7_arm_1: [laboratory]", "  day_8_arm_1: [laboratory]", 17, "'day_8_arm_1' is not an event of the site"),
        ("  day_7_arm_1: [laboratory]", "  day_7_arm_1: [labs]", 17, "'labs' is not a canonical form"),
        ('  l_anc: "1"', '  l_anc: "7"', 20, "'7' is not a unit code of 'anc_unit' (1 = x10^9/L, 2 = cells/uL)"),
        ('  l_anc: "1"', '  l_crp: "1"', 20, "'crp_unit' is both mapped (line 9) and declared"),
        ("events:", "event:", 15, "unknown section 'event'"),
        ("  l_date: lab_date", "  l_date: [lab_date", 7, "not YAML"),
    ],
)
def test_mapping_errors_name_file_and_line(old, new, line, message):
    assert old in MAPPING
    with pytest.raises(MappingError) as failed:
        check(MAPPING.replace(old, new))
    assert failed.value.line == line, str(failed.value)
    assert str(failed.value).startswith(f"redcap/ulm/mapping.yml (line {line}): ")
    assert message in str(failed.value)


# Fields of a site's own project that identify a patient, each in one of the ways a dictionary says so.
IDENTIFYING = """\
pt_name,enrol,,text,"Nombre y apellidos",,,,,,y
hosp_no,enrol,,text,"Hospital number (NHC)",,,,,,
dob,enrol,,text,"Date of birth",,,date_ymd,,,
pt_mail,enrol,,text,"Contact",,,email,,,
home,enrol,,text,"Home address",,,,,,
tel_1,enrol,,text,"Phone (mobile)",,,,,,
"""


@pytest.mark.parametrize(
    ("field", "target", "why"),
    [
        ("pt_name", "bt_regimen", "flagged as an identifier"),
        ("hosp_no", "bt_regimen", "a medical record number"),
        ("dob", "apheresis_date", "a birth date"),
        ("pt_mail", "bt_regimen", "an e-mail address (validation email)"),
        ("home", "bt_regimen", "an address"),
        ("tel_1", "bt_regimen", "a phone number"),
    ],
)
def test_a_mapping_carries_no_identifier_onto_any_canonical_field(field, target, why):
    """The allow-listed free text (bt_regimen) and a date (apheresis_date) would carry a site's
    name, MRN or birth date into raw and the marts: refused with the mapping's line."""
    site = parse_dictionary((SITE_DICTIONARY + IDENTIFYING).encode(), "dictionary.csv")
    text = MAPPING.replace("  l_date: lab_date\n", f"  l_date: lab_date\n  {field}: {target}\n")
    with pytest.raises(MappingError) as refused:
        read_mapping(text, "redcap/ulm/mapping.yml", site, project_dictionary(), tuple(EVENTS))
    assert str(refused.value) == (
        f"redcap/ulm/mapping.yml (line 7): '{field}' identifies a patient ({why} in the site's dictionary): no "
        f"identifier is mapped onto the canonical model (here onto '{target}'); remove the line, the field stays "
        "out of the warehouse"
    )


@pytest.mark.parametrize(("field", "target"), [("hosp_no", "mrn"), ("dob", "birth_date"), ("pt_name", "mrn")])
def test_a_site_identifier_maps_only_onto_the_canonical_identifier_of_its_kind(field, target):
    """Canonical identifiers are never loaded (they feed the identifier matching and the age at
    infusion): a site's MRN onto mrn and its birth date onto birth_date are read; a name onto mrn
    is refused."""
    site = parse_dictionary((SITE_DICTIONARY + IDENTIFYING).encode(), "dictionary.csv")
    text = MAPPING.replace("  l_date: lab_date\n", f"  l_date: lab_date\n  {field}: {target}\n")
    if field == "pt_name":
        with pytest.raises(MappingError, match="identifies a patient"):
            read_mapping(text, "redcap/ulm/mapping.yml", site, project_dictionary(), tuple(EVENTS))
    else:
        mapping = read_mapping(text, "redcap/ulm/mapping.yml", site, project_dictionary(), tuple(EVENTS))
        assert mapping is not None


# --- a mapped longitudinal site, landed --------------------------------------------------------

HEADER = (
    "pid,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,p_sex,p_consent,p_weight,p_note,"
    "enrol_complete,l_date,l_anc,l_crp,l_crp_unit,lab_complete,t_drugs___toci,t_drugs___ster,t_drugs___ana,"
    "t_drugs___sil,tox_complete"
)
RECORDS = [
    "1,screening_arm_1,,,F,2024-01-02,61,,2,,,,,,1,0,0,1,2",
    '1,day_7_arm_1,,,,,,,,2024-01-09,1.2,"3,5",mgl,2,,,,,',
    "1,monitoring_arm_1,,1,,,,,,2024-02-01,2.5,,,2,,,,,",
    "1,monitoring_arm_1,,2,,,,,,2024-03-01,abc,,,2,,,,,",  # row 5: a bad ANC
    "2,screening_arm_1,,,M,2024-01-05,80,,2,,,,,,0,0,0,0,1",
    '2,monitoring_arm_1,,1,,,,,,2024-02-02,0.9,"12,0",mgdl,1,,,,,',
]
SECRET = "site-mapping-test-secret"


@pytest.fixture
def ulm(open_warehouse):
    wh = open_warehouse(Warehouse, SECRET)
    folder = wh.landing / "redcap" / "ulm"
    folder.mkdir(parents=True)
    (folder / "dictionary.csv").write_text(SITE_DICTIONARY, encoding="utf-8")
    (folder / "events.json").write_text(
        json.dumps([{"event_name": e, "arm_num": 1, "unique_event_name": e} for e in EVENTS]), encoding="utf-8"
    )
    (folder / "repeating_forms_events.json").write_text(
        json.dumps([{"event_name": "monitoring_arm_1", "form_name": ""}])
    )
    (folder / "mapping.yml").write_text(MAPPING, encoding="utf-8")
    (folder / "records_20240401.csv").write_text("\n".join([HEADER, *RECORDS]) + "\n", encoding="utf-8")
    return wh


def test_a_mapped_longitudinal_site_lands_in_the_canonical_tables(ulm):
    report = ulm.ingest()
    assert report.failures == [] and report.files_loaded == ["redcap/ulm/records_20240401.csv"]
    one, two = hmac_pseudonym(SECRET, "1", "ulm"), hmac_pseudonym(SECRET, "2", "ulm")
    assert ulm.rows(
        "SELECT patient_key, sex, consent_date::VARCHAR, form_status FROM raw.redcap_demographics ORDER BY 2"
    ) == [(two, "1", "2024-01-05", 2), (one, "2", "2024-01-02", 2)]
    # day 7, then the monitoring visits: instances 1, 2, (3 quarantined) for record 1
    assert ulm.rows(
        "SELECT patient_key, redcap_repeat_instance, lab_date::VARCHAR, anc_value, anc_unit, crp_value, crp_unit, "
        "redcap_event_name FROM raw.redcap_laboratory ORDER BY _source_row"
    ) == [
        (one, 1, "2024-01-09", 1.2, "1", 3.5, "2", "day_7_arm_1"),
        (one, 2, "2024-02-01", 2.5, "1", None, None, "monitoring_arm_1"),
        (two, 1, "2024-02-02", 0.9, "1", 12.0, "1", "monitoring_arm_1"),
    ]
    assert ulm.rows(
        "SELECT anticytokine___1, anticytokine___2, anticytokine___3, anticytokine___4 FROM raw.redcap_toxicity "
        "ORDER BY _source_row"
    ) == [(True, False, False, True), (False, False, False, False)]
    # the site's own tables keep every field, keyed by event and instance
    assert ulm.rows(
        "SELECT redcap_event_name, redcap_repeat_instance, p_weight FROM raw.redcap_site_ulm__enrol "
        "ORDER BY _source_row"
    ) == [("screening_arm_1", None, 61.0), ("screening_arm_1", None, 80.0)]
    assert ulm.rows("SELECT count(*) FROM raw.redcap_site_ulm__lab") == [(3,)]  # row 5 set aside here too


def test_problems_name_the_site_row_and_column(ulm):
    ulm.ingest()
    quarantine = ulm.rows("SELECT row, column_name, reason FROM raw.quarantine ORDER BY row, reason")
    assert (5, "l_anc", "not a number (with a decimal point) [form laboratory]") in quarantine
    assert (5, "l_anc", "not a number (with a decimal point) [form site:lab]") in quarantine
    assert (
        1,
        "p_weight",
        "site field not mapped to the canonical dictionary: kept in the site's raw tables only",
    ) in quarantine
    assert (1, "p_note", "free text not on the reviewed allow-list: not loaded") in quarantine
    assert not [q for q in quarantine if q[1] in {"anc_value", "lab_date", "record_id"}]


def test_a_bad_mapping_stops_the_site_before_any_row_lands(ulm):
    mapping = ulm.landing / "redcap" / "ulm" / "mapping.yml"
    mapping.write_text(MAPPING.replace("  l_date: lab_date", "  l_date: lab_day"), encoding="utf-8")
    with pytest.raises(IngestError, match=r"redcap/ulm/mapping.yml \(line 6\): 'lab_day' is not a field"):
        ulm.ingest()
    assert ulm.rows("SELECT count(*) FROM raw.landed_files") == [(0,)]
    assert ulm.rows("SELECT count(*) FROM raw.redcap_demographics") == [(0,)]


def test_a_configured_mapping_folder(ulm, tmp_path, monkeypatch):
    reviewed = tmp_path / "mappings"
    reviewed.mkdir()
    (ulm.landing / "redcap" / "ulm" / "mapping.yml").rename(reviewed / "ulm.yml")
    monkeypatch.setenv("CARTWH_REDCAP_MAPPINGS", str(reviewed))
    ulm.ingest()
    assert ulm.rows("SELECT count(*) FROM raw.redcap_laboratory") == [(3,)]


def test_a_changed_mapping_is_a_new_project_version(ulm):
    ulm.ingest()
    folder = ulm.landing / "redcap" / "ulm"
    (folder / "mapping.yml").write_text(MAPPING.replace('  l_anc: "1"', '  l_anc: "2"'), encoding="utf-8")
    with open(folder / "records_20240401.csv", "a", encoding="utf-8") as handle:
        handle.write("\n")
    ulm.ingest()
    assert ulm.rows(
        "SELECT count(DISTINCT project_sha256), count(DISTINCT dictionary_sha256) FROM raw.landed_file_projects"
    ) == [(2, 1)]
    assert ulm.rows(
        "SELECT DISTINCT anc_unit FROM raw.redcap_laboratory l JOIN raw.landed_files f ON f.load_id = l._load_id "
        "WHERE f.superseded_by IS NULL"
    ) == [("2",)]


def test_site_tables_are_named_after_the_folder():
    from cartwh.contract.redcap_site import SiteProject

    assert SiteProject(site(), folder="ULM-2").table_prefix == "raw.redcap_site_ulm_2__"


def test_rebuild_reads_each_version_with_the_project_it_was_read_with(ulm, tmp_path):
    """The archive alone rebuilds a mapped site: its metadata files are archived with each record
    version and put back beside it, even after the landing folder is gone."""
    import shutil

    from cartwh.ingest.warehouse import connect
    from cartwh.warehouse.archive_ledger import read_ledger
    from cartwh.warehouse.rebuild import replay

    ulm.ingest()
    before = ulm.rows(
        "SELECT patient_key, redcap_repeat_instance, lab_date, anc_value, anc_unit FROM raw.redcap_laboratory "
        "ORDER BY ALL"
    )
    shutil.rmtree(ulm.landing)
    assert replay(read_ledger(ulm.archive), tmp_path / "rebuilt.duckdb", ulm.archive) == 1
    rebuilt = connect(tmp_path / "rebuilt.duckdb")
    try:
        after = rebuilt.execute(
            "SELECT patient_key, redcap_repeat_instance, lab_date, anc_value, anc_unit FROM "
            "raw.redcap_laboratory ORDER BY ALL"
        ).fetchall()
        mapped = rebuilt.execute("SELECT mapped FROM raw.landed_file_projects").fetchall()
    finally:
        rebuilt.close()
    assert after == before and len(before) == 3 and mapped == [(True,)]

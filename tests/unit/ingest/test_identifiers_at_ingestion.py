"""Identifiers at the door (cartwh/ingest/identifiers.py, cartwh/contract/free_text.py): free
text not on the reviewed allow-list is not loaded; the record's own name, MRN or birth date in
any loaded text (REDCap free text, manifest FCS file names and text, statistics sample names)
or in a value that breaks its rule is quarantined with a reason that does not repeat it; and
no quarantined value holds one. On small exports written by hand."""

from __future__ import annotations

import shutil
from datetime import date

import pytest

import cartwh.ingest.load as ingest
from cartwh.contract.redcap import DICTIONARY_PATH
from cartwh.contract.redcap_dictionary import read_dictionary
from cartwh.ingest import redcap_loader
from cartwh.ingest.identifiers import date_spellings
from cartwh.ingest.sources import Redcap
from tests.conftest import hmac_tube_key
from tests.unit.ingest.test_ingest_cytometry import LEUK_COUNT, MANIFEST_HEADER, MANIFESTS, STATS, CytometryWarehouse
from tests.unit.ingest.test_ingest_redcap import (
    HEADER,
    SECRET,
    YORICK_BASE,
    ZELDA,
    ZELDA_BASE,
    key,
    repeat,
    write_export,
)

BRIDGING = ["bt_agent", "bt_regimen", "bt_start_date", "bridging_therapy_complete"]
REDCAP_HEADER = HEADER + BRIDGING


class IdentWarehouse(CytometryWarehouse):
    def export(self, rows: list[dict], name: str = "redcap/a.csv", header: list[str] = REDCAP_HEADER):
        return write_export(self.landing / name, rows, header)

    def identifier_text(self) -> str:
        """Every value of every raw table, as one text."""
        tables = [r[0] for r in self.rows("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw'")]
        return " ".join(str(v) for t in tables for row in self.rows(f"SELECT * FROM raw.{t}") for v in row)


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv(
        "CARTWH_SITE", "site_7"
    )  # every export here is the REDCap group site_7's, landing in its source's folder
    return open_warehouse(IdentWarehouse, SECRET)


def bridging(regimen: str, instance: int = 1) -> dict:
    return repeat(
        "SITE7-0042",
        "bridging_therapy",
        instance,
        bt_agent="2",
        bt_regimen=regimen,
        bt_start_date="2024-02-25",
        bridging_therapy_complete="2",
    )


# --- REDCap free text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "regimen, kind",
    [
        ("Dexamethasone (pt. QUIXOTE)", "name"),
        ("FLAG-Ida for zelda", "name"),
        ("ZeldaQuixote protocol", "name"),
        ("see chart mrn 555 0123", "MRN"),
        ("see chart 5550123", "MRN"),
        ("born 10/03/1987", "birth date"),
        ("born 10.3.1987", "birth date"),
        ("DOB 1987-03-10", "birth date"),
        ("DOB 19870310", "birth date"),
        ("born March 10, 1987", "birth date"),
        ("nacida el 10 de marzo de 1987", "birth date"),
    ],
)
def test_identifier_in_free_text_is_quarantined_for_its_form_without_the_value(wh, regimen, kind):
    wh.export([ZELDA_BASE, bridging(regimen), bridging("Dexamethasone", 2)])
    report = wh.ingest("redcap")
    assert wh.quarantine() == [
        ("redcap/a.csv", 3, "bt_regimen", f"holds the record's {kind} [form bridging_therapy]", None, key("SITE7-0042"))
    ]
    assert report.rows_quarantined == 1
    # The other instance and the record's other forms load; the text with the identifier does not.
    assert wh.rows("SELECT bt_regimen FROM raw.redcap_bridging_therapy") == [("Dexamethasone",)]
    assert wh.rows("SELECT count(*) FROM raw.redcap_demographics") == [(1,)]
    assert regimen not in wh.identifier_text()


def test_ordinary_regimens_and_other_records_identifiers_are_not_flagged(wh):
    # "Zelda" is the other record's name: only the record's own identifiers are looked for.
    yorick_regimen = repeat(
        "SITE7-0043",
        "bridging_therapy",
        1,
        bt_agent="1",
        bt_regimen="Inotuzumab for Zelda",
        bt_start_date="2024-02-25",
        bridging_therapy_complete="2",
    )
    wh.export([ZELDA_BASE, bridging("Inotuzumab ozogamicin 0.5 mg/m2 d1, d8, d15"), YORICK_BASE, yorick_regimen])
    wh.ingest("redcap")
    assert wh.quarantine() == []
    assert wh.rows("SELECT count(*) FROM raw.redcap_bridging_therapy") == [(2,)]


def test_a_birth_date_in_a_number_field_is_not_kept_in_quarantine(wh):
    marrow = repeat(
        "SITE7-0042",
        "marrow_assessment",
        1,
        bm_date="2024-04-06",
        bm_blasts_pct="10/03/1987",
        bm_mrd_status="2",
        marrow_assessment_complete="2",
    )
    wh.export([ZELDA_BASE, marrow])
    wh.ingest("redcap")
    assert sorted(wh.quarantine()) == [
        (
            "redcap/a.csv",
            3,
            "bm_blasts_pct",
            "holds the record's birth date [form marrow_assessment]",
            None,
            key("SITE7-0042"),
        ),
        (
            "redcap/a.csv",
            3,
            "bm_blasts_pct",
            "not a number (with a decimal point) [form marrow_assessment]",
            None,
            key("SITE7-0042"),
        ),
    ]
    assert "10/03/1987" not in wh.identifier_text()


def test_a_name_typed_as_a_code_is_not_kept_in_quarantine(wh):
    wh.export([dict(ZELDA_BASE, sex="Quixote")])
    wh.ingest("redcap")
    assert sorted((q[2], q[3], q[4]) for q in wh.quarantine()) == [
        ("sex", "holds the record's name [form demographics]", None),
        ("sex", "not one of the allowed codes (1, 2) [form demographics]", None),
    ]


def test_identifiers_of_an_earlier_export_are_known_to_a_later_one(wh):
    wh.export([ZELDA_BASE], "redcap/a.csv")
    wh.ingest("redcap")
    wh.export([bridging("for Quixote")], "redcap/b.csv")  # a late export without the demographics row
    wh.ingest("redcap")
    assert [(q[0], q[1], q[3]) for q in wh.quarantine()] == [
        ("redcap/b.csv", 2, "holds the record's name [form bridging_therapy]")
    ]


def test_date_spellings_of_a_birth_date():
    words = {s for mode, s in date_spellings(date(1987, 3, 10)) if mode == "word"}
    compact = {s for mode, s in date_spellings(date(1987, 3, 10)) if mode == "compact"}
    assert {
        "1987 03 10",
        "1987 3 10",
        "10 03 1987",
        "10 3 1987",
        "03 10 1987",
        "3 10 1987",
        "10 03 87",
        "03 10 87",
        "100387",
        "870310",
        "10 March 1987",
        "10 Mar 1987",
        "March 10 1987",
        "10 de marzo de 1987",
    } <= words
    assert compact == {"19870310", "10031987", "03101987"}


# --- free text not on the allow-list ------------------------------------------------------------


def test_free_text_not_on_the_allow_list_is_not_loaded(wh, tmp_path, monkeypatch):
    dictionary = tmp_path / "dictionary.csv"
    shutil.copy(DICTIONARY_PATH, dictionary)
    with open(dictionary, "a", encoding="utf-8") as handle:  # a notes field, as projects add them
        handle.write('toxicity_notes,toxicity,,notes,"Comments",,,,,,,,,,,,,\n')
    custom = read_dictionary(dictionary)

    class CustomDictionary(Redcap):
        def load(self, con, files):
            return redcap_loader.load_redcap_export(con, files, custom)

    monkeypatch.setitem(ingest.SOURCES, "redcap", CustomDictionary())
    header = HEADER[:-1] + ["toxicity_notes", "toxicity_complete"]
    wh.export([dict(ZELDA_BASE, toxicity_notes="Zelda's husband called, 555 0199")], header=header)
    report = wh.ingest("redcap")
    assert wh.quarantine() == [
        ("redcap/a.csv", 1, "toxicity_notes", "free text not on the reviewed allow-list: not loaded", None, None)
    ]
    assert report.rows["raw.redcap_toxicity"] == 1  # the form loads, without the notes
    columns = [r[0] for r in wh.rows("DESCRIBE raw.redcap_toxicity")]
    assert "toxicity_notes" not in columns and "crs_grade" in columns
    assert "husband" not in wh.identifier_text()


def test_the_canonical_dictionary_loads_only_reviewed_free_text():
    from cartwh.contract.free_text import allowed_free_text, is_free_text
    from cartwh.contract.redcap_dictionary import project_dictionary

    assert {f.name for f in project_dictionary().fields if is_free_text(f)} == {"bt_regimen"} == allowed_free_text()


# --- cytometry: FCS file names ------------------------------------------------------------------

ROW = "{},SITE7-0042,peripheral blood,2024-03-16,D7,BD FACSLyric,CART-DETECT-v2,2024-03-17\n"


@pytest.mark.parametrize(
    "fcs_file, kind", [("MRN5550123_D7.fcs", "MRN"), ("QUIXOTE_Z_D7.fcs", "name"), ("A1_19870310.fcs", "birth date")]
)
def test_identifier_in_an_fcs_file_name_quarantines_the_tube_everywhere(wh, fcs_file, kind):
    wh.export([ZELDA_BASE])
    wh.ingest("redcap")
    wh.write(f"{MANIFESTS}/m.csv", MANIFEST_HEADER + ROW.format("A0000001_T1.fcs") + ROW.format(fcs_file))
    wh.write(f"{STATS}/s.csv", f"Sample,{LEUK_COUNT}\nA0000001_T1.fcs,100\n{fcs_file},200\n")
    wh.ingest("cytometry_manifest")
    wh.ingest("cytometry_statistics")
    assert [q[:5] for q in wh.quarantine()] == [
        (f"{MANIFESTS}/m.csv", 3, "fcs_file", f"holds the record's {kind}", None),
        (f"{STATS}/s.csv", 3, "Sample", f"holds the record's {kind}", None),
    ]
    good = hmac_tube_key(SECRET, "A0000001_T1.fcs", "site_7")
    assert wh.rows("SELECT tube_key FROM raw.cytometry_samples") == [(good,)]
    assert wh.rows("SELECT DISTINCT tube_key FROM raw.cytometry_population_stats") == [(good,)]
    assert fcs_file not in wh.identifier_text() and "A0000001_T1" not in wh.identifier_text()


def test_a_record_is_matched_with_its_own_sites_identifiers_only(wh):
    # Record ids restart at every site: SITE7-0042 of site_8 is another patient than Zelda.
    wh.export([ZELDA_BASE])
    wh.ingest("redcap")
    wh.write(f"{MANIFESTS}/site_8/m.csv", MANIFEST_HEADER + ROW.format("MRN5550123_D7.fcs"))
    wh.write(f"{MANIFESTS}/site_7/m.csv", MANIFEST_HEADER + ROW.format("QUIXOTE_Z_D7.fcs"))
    wh.write(f"{STATS}/s.csv", f"Sample,{LEUK_COUNT}\nMRN5550123_D7.fcs,100\nQUIXOTE_Z_D7.fcs,200\n")
    wh.ingest("cytometry_manifest")
    wh.ingest("cytometry_statistics")
    assert [q[:5] for q in wh.quarantine()] == [
        (f"{MANIFESTS}/site_7/m.csv", 2, "fcs_file", "holds the record's name", None),
        (f"{STATS}/s.csv", 3, "Sample", "holds the record's name", None),
    ]
    assert wh.rows("SELECT tube_key FROM raw.cytometry_samples") == [
        (hmac_tube_key(SECRET, "MRN5550123_D7.fcs", "site_8"),)
    ]  # its manifest is site_8's


def test_manifest_text_columns_are_checked_too(wh):
    wh.export([ZELDA_BASE])
    wh.ingest("redcap")
    wh.write(f"{MANIFESTS}/m.csv", MANIFEST_HEADER + ROW.format("A1.fcs").replace("BD FACSLyric", "Lyric (Quixote)"))
    wh.ingest("cytometry_manifest")
    assert [q[2:5] for q in wh.quarantine()] == [("instrument", "holds the record's name", None)]


def test_raw_holds_none_of_the_records_identifiers(wh):
    wh.export([ZELDA_BASE, bridging("for " + ZELDA["patient_name"]), YORICK_BASE])
    wh.ingest("redcap")
    wh.write(f"{MANIFESTS}/m.csv", MANIFEST_HEADER + ROW.format(f"{ZELDA['mrn']}.fcs"))
    wh.ingest("cytometry_manifest")
    text = wh.identifier_text().lower()
    for value in (*ZELDA.values(), *(YORICK_BASE[c] for c in ("patient_name", "mrn", "birth_date"))):
        assert value.lower() not in text, value
    assert "quixote" not in text and "5550123" not in text


def test_a_birth_date_that_is_not_a_date_is_still_looked_for_as_typed(wh):
    wh.export([dict(ZELDA_BASE, birth_date="10/03/1987"), bridging("DOB 10-03-1987")])
    wh.ingest("redcap")
    assert sorted(q[2:5] for q in wh.quarantine()) == [
        ("birth_date", "not a date (YYYY-MM-DD) [form demographics]", None),
        ("bt_regimen", "holds the record's birth date [form bridging_therapy]", None),
    ]


# --- a birth date where a date of the patient's care belongs (issue 28) -------------------------


def test_a_birth_date_as_a_date_of_care_is_quarantined_and_an_earlier_date_is_left_to_the_timeline(wh):
    row = bridging("Dexamethasone")
    row["bt_start_date"] = "1987-03-10"  # Zelda's birth date as the start of bridging
    before = bridging("Dexamethasone", 2)
    before["bt_start_date"] = "1986-12-31"  # a wrong date, not an identifier: raw_patient_dates names it
    wh.export([ZELDA_BASE, row, before])
    wh.ingest("redcap")
    assert wh.quarantine() == [
        (
            "redcap/a.csv",
            3,
            "bt_start_date",
            "holds the record's birth date [form bridging_therapy]",
            None,
            key("SITE7-0042"),
        )
    ]
    assert wh.rows("SELECT count(*) FROM raw.redcap_bridging_therapy") == [(1,)]
    assert "1987-03-10" not in wh.identifier_text()


def test_a_site_projects_unflagged_birth_date_is_matched_like_the_canonical_one(wh, tmp_path):
    """A site's dictionary that forgot the Identifier? flag on its date of birth: the field is
    never loaded, and its value is still looked for in the record's dates and text."""
    folder = wh.landing / "redcap" / "site_7"
    folder.mkdir(parents=True)
    (folder / "dictionary.csv").write_text(
        '"Variable / Field Name","Form Name","Field Type","Field Label","Text Validation Type OR Show Slider Number"\n'
        "pid,enrol,text,Participant,\n"
        'fnac,enrol,text,"Fecha de nacimiento",date_ymd\n'
        "visit,enrol,text,Visit date,date_ymd\n"
        "comment,enrol,notes,Comment,\n",
        encoding="utf-8",
    )
    (folder / "records.csv").write_text(
        "pid,fnac,visit,comment,enrol_complete\n1,2001-05-06,2001-05-06,,2\n2,1999-01-02,2024-01-05,,2\n",
        encoding="utf-8",
    )
    wh.ingest("redcap")
    reasons = {(file, row, column, reason) for file, row, column, reason, _, _ in wh.quarantine() if row > 1}
    assert reasons == {("redcap/site_7/records.csv", 2, "visit", "holds the record's birth date [form enrol]")}
    assert wh.rows("SELECT visit FROM raw.redcap_site_site_7__enrol") == [(date(2024, 1, 5),)]

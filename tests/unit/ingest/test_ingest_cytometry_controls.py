"""Cytometry tables as labs send them (issue 22, item 7), at ingestion: control tubes beside the
patients' in a FlowJo table and in a LIMS worklist, and a table whose columns the lab renamed. The
tables are written in the FlowJo table editor's shape (../shared/real-exports/README.md): unnamed
first column, a comma at the end of every line, Mean and SD rows. Control names as cytometers and
labs write them: BD FACSDiva names its compensation tubes 'Compensation Controls_<dye> Stained
Control' and 'Unstained Control'; labs name FMO and isotype tubes after the marker or antibody."""

from __future__ import annotations

from datetime import date

import pytest

from cartwh.ingest.errors import IngestError
from tests.conftest import Warehouse, hmac_pseudonym, hmac_tube_key

SECRET = "cytometry-controls-test-secret"
STATS = "cytometry/statistics/SITE7"
MANIFESTS = "cytometry/manifests/SITE7"
FLOWJO_HEADER = ",Leukocytes | Count,Leukocytes/Lymphocytes | Freq. of Parent (%),\n"
CONTROLS = {
    "FMO CD62L_003.fcs": "fmo",
    "Isotype IgG1-PE.fcs": "isotype",
    "Compensation Controls_Unstained Control.fcs": "compensation",
    "Unstained Control.fcs": "unstained",
    "Comp_APC_007.fcs": "compensation",
    "Beads only.fcs": "beads_only",
}
MANIFEST_HEADER = "fcs_file,record_id,specimen,collection_date,timepoint,instrument,panel,acquisition_date"


def tube(fcs_file: str) -> str:
    return hmac_tube_key(SECRET, fcs_file, "site7")


class CytometryWarehouse(Warehouse):
    def write(self, name: str, text: str) -> None:
        path = self.landing / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def wh(open_warehouse):
    return open_warehouse(CytometryWarehouse, SECRET)


def test_control_tubes_in_a_table_are_skipped_by_their_names_and_counted(wh):
    controls = "".join(f"{name},1200,35.5,\n" for name in CONTROLS)
    wh.write(
        f"{STATS}/2024-03_CART-DETECT-v2.csv",
        FLOWJO_HEADER + "A0000001_T1.fcs,50000,25.5,\n" + controls + "A0000002_T1.fcs,4.43012E+05,31,\n"
        "Mean,2.1E+05,28.25,\nSD,1.1E+05,3.9,\n",
    )
    report = wh.ingest("cytometry_statistics")
    assert report.rows_quarantined == 0 and wh.quarantine() == []
    assert (report.rows_landed, report.records_skipped) == (2, 1 + len(CONTROLS) + 2)  # header, controls, Mean, SD
    assert wh.rows("SELECT DISTINCT tube_key FROM raw.cytometry_population_stats ORDER BY 1") == sorted(
        [(tube("A0000001_T1.fcs"),), (tube("A0000002_T1.fcs"),)]
    )


def test_a_name_only_partly_like_a_control_is_a_patient_tube(wh):
    # a control's name only as whole words: not in an accession or a word that merely contains it
    wh.write(f"{STATS}/b.csv", FLOWJO_HEADER + "COMP0001_T1.fcs,50000,25.5,\nA0000002_compartment_T1.fcs,40000,31,\n")
    report = wh.ingest("cytometry_statistics")
    assert (report.rows_landed, report.records_skipped) == (2, 1)


def test_a_manifest_says_which_tubes_are_controls(wh):
    wh.write(
        f"{MANIFESTS}/2024-03_CART-DETECT-v2.csv",
        f"{MANIFEST_HEADER},sample_type\n"
        "A0000001_T1.fcs,SITE7-0042,peripheral blood,2024-03-16,D7,BD FACSLyric,CART-DETECT-v2,2024-03-17,\n"
        "A0000002_T1.fcs,SITE7-0043,peripheral blood,2024-03-16,D7,BD FACSLyric,CART-DETECT-v2,2024-03-17,Patient\n"
        "FMO CD62L_003.fcs,,,,,BD FACSLyric,CART-DETECT-v2,2024-03-17,\n"
        "T-0099.fcs,,,,,BD FACSLyric,CART-DETECT-v2,2024-03-17,Isotype control\n"
        "T-0100.fcs,SITE7-0042,peripheral blood,2024-03-16,,BD FACSLyric,CART-DETECT-v2,2024-03-17,FMO\n"
        "T-0101.fcs,,,,,BD FACSLyric,CART-DETECT-v2,2024-03-17,blank\n"
        "T-0102.fcs,,,,,BD FACSLyric,CART-DETECT-v2,2024-03-17,\n",
    )
    report = wh.ingest("cytometry_manifest")
    assert wh.rows(
        "SELECT tube_key, patient_key, sample_type, collection_date, _source_row FROM raw.cytometry_samples ORDER BY 5"
    ) == [
        (tube("A0000001_T1.fcs"), hmac_pseudonym(SECRET, "SITE7-0042", "site7"), "patient", date(2024, 3, 16), 2),
        (tube("A0000002_T1.fcs"), hmac_pseudonym(SECRET, "SITE7-0043", "site7"), "patient", date(2024, 3, 16), 3),
        (tube("FMO CD62L_003.fcs"), None, "fmo", None, 4),  # a control by its name: no record needed
        (tube("T-0099.fcs"), None, "isotype", None, 5),  # a control by its sample_type
        (tube("T-0100.fcs"), hmac_pseudonym(SECRET, "SITE7-0042", "site7"), "fmo", date(2024, 3, 16), 6),
    ]
    assert [(row, column, reason.split(":")[0]) for _, row, column, reason, *_ in wh.quarantine()] == [
        (7, "sample_type", "not a sample type"),
        (8, "collection_date", "required value is empty"),  # a patient's tube still needs its record, date, ...
        (8, "record_id", "required value is empty"),
        (8, "specimen", "required value is empty"),
        (8, "timepoint", "required value is empty"),
    ]
    (reason,) = {r[3] for r in wh.quarantine() if r[1] == 7}
    assert "cytometry_control_tubes" in reason and "fmo" in reason and "beads_only" in reason
    assert report.rows_quarantined == 2


def test_a_table_of_renamed_columns_names_the_seed_that_maps_them(wh):
    wh.write(f"{STATS}/renamed.csv", ",CAR-T count,T cells %,\nA0000001_T1.fcs,812,25.5,\n")
    with pytest.raises(IngestError) as raised:
        wh.ingest("cytometry_statistics")
    (failure,) = raised.value.failures
    message = str(failure)
    assert failure.file == f"{STATS}/renamed.csv"
    assert "cytometry_lab_columns" in message and "lab 'SITE7'" in message
    assert "'CAR-T count', 'T cells %'" in message
    assert "not a population statistics export" not in message

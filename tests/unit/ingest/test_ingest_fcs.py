"""FCS files as a source (cartwh/ingest/fcs_loader.py): the acquisition's keywords land, one row
per file version; a FlowJo workspace beside the files or the panel's GatingML template gates
them into raw.cytometry_population_stats; identifiers in keywords or file names never reach raw;
a truncated file is quarantined with its reason; a rerun gates nothing again. Real files where
counts are asserted (FlowKit's repository, ../shared/real-exports/flowkit/); FCS files written
with FlowIO where only keywords matter."""

from __future__ import annotations

import io
import shutil

import flowio
import pytest

from cartwh.ingest import fcs_gating
from tests.conftest import hmac_tube_key
from tests.unit.ingest.test_fcs_gating import LINES, REAL, REFERENCE, _truth
from tests.unit.ingest.test_identifiers_at_ingestion import IdentWarehouse
from tests.unit.ingest.test_ingest_cytometry import MANIFEST_HEADER, MANIFESTS
from tests.unit.ingest.test_ingest_redcap import SECRET, ZELDA, ZELDA_BASE

pytestmark = pytest.mark.skipif(REAL is None, reason="../shared/real-exports is not beside the clone")
FCS = "cytometry/fcs"
ROW = "{},SITE7-0042,peripheral blood,2024-03-16,D7,BD FACSLyric,{},2024-03-17\n"


@pytest.fixture
def wh(open_warehouse, monkeypatch):
    monkeypatch.setenv("CARTWH_SITE", "site_7")
    warehouse = open_warehouse(IdentWarehouse, SECRET)
    warehouse.export([ZELDA_BASE])
    warehouse.ingest("redcap")
    return warehouse


def fcs_bytes(**keywords: str) -> bytes:
    """A small FCS 3.1 file as FlowIO writes it, with the given keywords."""
    handle = io.BytesIO()
    events = [float(v) for i in range(10) for v in (i, 10 * i)]
    flowio.create_fcs(handle, events, ["FSC-A", "PE-A"], ["", "CD3"], metadata_dict=keywords)
    return handle.getvalue()


def land(wh, name: str, content: bytes, panel: str = "CART-DETECT-v2") -> None:
    path = wh.landing / FCS / "site_7" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    manifest = wh.landing / MANIFESTS / "m.csv"
    text = manifest.read_text() if manifest.exists() else MANIFEST_HEADER
    wh.write(f"{MANIFESTS}/m.csv", text + ROW.format(name.rsplit("/", 1)[-1], panel))


def test_the_acquisition_keywords_land_one_row_per_file_version(wh):
    land(wh, "A1_T1.fcs", fcs_bytes(CYT="BD FACSLyric", DATE="17-MAR-2024", BTIM="10:22:01", **{"TUBE NAME": "T1"}))
    wh.ingest("cytometry_manifest")
    report = wh.ingest("cytometry_fcs")
    key = hmac_tube_key(SECRET, "A1_T1.fcs", "site_7")
    assert report.files_loaded == [f"{FCS}/site_7/{key}.fcs"] and report.rows_quarantined == 0  # never the name
    assert (report.records_read, report.rows_landed, report.records_skipped) == (2, 1, 1)
    row = wh.rows(
        "SELECT tube_key, fcs_version, cytometer, acquisition_date::VARCHAR, acquisition_start, total_events, "
        "channels, markers, spillover_channels, tube_name, gating FROM raw.cytometry_fcs_files"
    )
    assert row == [
        (key, "3.1", "BD FACSLyric", "2024-03-17", "10:22:01", 10, ["FSC-A", "PE-A"], ["", "CD3"], None, "T1", None)
    ]
    archived = wh.rows("SELECT archive_path FROM raw.landed_files WHERE source = 'cytometry_fcs'")[0][0]
    assert archived.endswith(".fcs")  # the events stay in the archive, not in the warehouse


def test_identifiers_in_keywords_that_do_not_land_are_noted_never_stored(wh):
    planted = {
        "SRC": ZELDA["patient_name"],
        "PATIENT ID": ZELDA["mrn"],
        "SAMPLE ID": "Z. Quixote",
        "FIL": "5550123.fcs",
    }
    land(wh, "A1_T1.fcs", fcs_bytes(CYT="BD FACSLyric", **planted))
    wh.ingest("cytometry_manifest")
    report = wh.ingest("cytometry_fcs")
    notes = sorted(q[1:5] for q in wh.quarantine() if q[0].startswith(FCS) and q[2])
    assert notes == [
        (1, "FIL", "keyword FIL holds the record's MRN: not stored (only the acquisition's keywords land)", None),
        (
            1,
            "PATIENT ID",
            "keyword PATIENT ID holds the record's MRN: not stored (only the acquisition's keywords land)",
            None,
        ),
        (
            1,
            "SAMPLE ID",
            "keyword SAMPLE ID holds the record's name: not stored (only the acquisition's keywords land)",
            None,
        ),
        (1, "SRC", "keyword SRC holds the record's name: not stored (only the acquisition's keywords land)", None),
    ]
    assert report.rows_quarantined == 0 and wh.rows("SELECT count(*) FROM raw.cytometry_fcs_files") == [(1,)]
    text = wh.identifier_text().lower()
    assert "quixote" not in text and "5550123" not in text


@pytest.mark.parametrize(
    "name, keywords, column, kind",
    [
        ("QUIXOTE_T1.fcs", {}, "file", "name"),
        ("by-patient/MRN5550123/A1_T1.fcs", {}, "file", "MRN"),
        ("A1_T1.fcs", {"TUBE NAME": "Quixote T1"}, "TUBE NAME", "name"),
        ("A1_T1.fcs", {"P2S": "CD3 19870310"}, "P2S", "birth date"),
    ],
)
def test_an_identifier_in_the_file_name_or_a_landed_keyword_quarantines_the_tube(wh, name, keywords, column, kind):
    content = fcs_bytes(CYT="BD FACSLyric", **keywords)
    if "P2S" in keywords:  # the marker label itself: FlowIO writes $PnS from its own argument
        content = content.replace(b"/$P2S/CD3/", b"/$P2S/CD3 19870310/")
    land(wh, name, content)
    wh.ingest("cytometry_manifest")
    report = wh.ingest("cytometry_fcs")
    assert [q[1:5] for q in wh.quarantine() if q[0].startswith(FCS) and q[1] > 1] == [
        (2, column, f"holds the record's {kind}", None)
    ]
    assert report.rows_quarantined == 1
    assert wh.rows("SELECT count(*) FROM raw.cytometry_fcs_files") == [(0,)]
    text = wh.identifier_text().lower()
    assert "quixote" not in text and "5550123" not in text and "19870310" not in text


def test_a_tube_without_a_gating_is_noted_and_its_keywords_land(wh, tmp_path, monkeypatch):
    monkeypatch.setenv("CARTWH_GATING_TEMPLATES", str(tmp_path))  # no template for any panel
    land(wh, "A1_T1.fcs", fcs_bytes(CYT="BD FACSLyric"))
    path = wh.landing / FCS / "site_7" / "A9_T1.fcs"  # a tube no manifest names yet
    path.write_bytes(fcs_bytes(CYT="BD FACSLyric", TOT_NOTE="x"))
    wh.ingest("cytometry_manifest")
    report = wh.ingest("cytometry_fcs")
    notes = sorted(q[3] for q in wh.quarantine() if q[0].startswith(FCS))
    assert notes == [
        "not gated: no manifest names the tube (yet), so its panel's template is unknown, and no FlowJo workspace "
        "is beside it; a version landed after its manifest is gated",
        f"not gated: no template CART-DETECT-v2.xml in {tmp_path} and no FlowJo workspace beside the file",
    ]
    assert report.rows_quarantined == 0 and wh.rows("SELECT count(*) FROM raw.cytometry_fcs_files") == [(2,)]


def test_a_truncated_fcs_file_is_quarantined_with_its_reason(wh):
    content = (REFERENCE / "data1.fcs").read_bytes()
    land(wh, "A1_T1.fcs", content[: len(content) // 2])
    land(wh, "A2_T1.fcs", fcs_bytes(CYT="BD FACSLyric"))
    wh.ingest("cytometry_manifest")
    report = wh.ingest("cytometry_fcs")
    assert report.failures == [] and len(report.files_loaded) == 2
    ((file, row, column, reason, value, _),) = [q for q in wh.quarantine() if q[0].startswith(FCS) and q[1] > 1]
    key = hmac_tube_key(SECRET, "A1_T1.fcs", "site_7")
    assert (file, row, column, value) == (f"{FCS}/site_7/{key}.fcs", 2, None, None)
    assert reason == "not a readable FCS file (FlowIO: FCS file indicates data section greater than file size)"
    assert wh.rows("SELECT count(*) FROM raw.cytometry_fcs_files") == [(1,)]


def test_a_flowjo_workspace_beside_the_files_gives_flowjos_counts_under_the_labs_names(wh, tmp_path, monkeypatch):
    lab_columns = tmp_path / "cytometry_lab_columns.csv"
    lab_columns.write_text(
        "lab,lab_name,gate_path,statistic,note\n"
        "site_7,ellipse1,Leukocytes/Lymphocytes/CD3+/CD19-CAR+,,the lab's workspace names its CAR gate ellipse1\n"
    )
    monkeypatch.setattr("cartwh.contract.cytometry.LAB_COLUMNS_SEED", lab_columns)
    land(wh, "data_set_simple_line_100.fcs", (LINES / "data_set_simple_line_100.fcs").read_bytes())
    shutil.copyfile(LINES / "single_ellipse_51_events.wsp", wh.landing / FCS / "site_7" / "analysis.wsp")
    wh.ingest("cytometry_manifest")
    report = wh.ingest("cytometry_fcs")
    assert report.files_unrecognised == [] and report.rows_quarantined == 0
    key = hmac_tube_key(SECRET, "data_set_simple_line_100.fcs", "site_7")
    assert wh.stats() == [
        (key, "Leukocytes/Lymphocytes/CD3+/CD19-CAR+", "Count", 51.0, 2),
        (key, "Leukocytes/Lymphocytes/CD3+/CD19-CAR+", "Freq. of Parent", 51.0, 2),
        (key, "Leukocytes/Lymphocytes/CD3+/CD19-CAR+", "Freq. of Total", 51.0, 2),
    ]
    assert wh.rows("SELECT gating, gates FROM raw.cytometry_fcs_files") == [("workspace", 1)]


def test_the_panels_gatingml_template_gates_the_tube_and_a_rerun_gates_nothing(wh, tmp_path, monkeypatch):
    templates = tmp_path / "templates"
    templates.mkdir()
    shutil.copyfile(REFERENCE / "gml" / "gml_all_gates.xml", templates / "CART-DETECT-v2.xml")
    monkeypatch.setenv("CARTWH_GATING_TEMPLATES", str(templates))
    land(wh, "A1_T1.fcs", (REFERENCE / "data1.fcs").read_bytes())
    land(wh, "A2_T2.fcs", (REFERENCE / "data1.fcs").read_bytes()[:-1] + b" ", panel="CART-MEMORY-v2")  # no template
    wh.ingest("cytometry_manifest")
    gated = []
    real = fcs_gating.analyse_all
    monkeypatch.setattr(fcs_gating, "analyse_all", lambda jobs: gated.extend(jobs) or real(jobs))
    wh.ingest("cytometry_fcs")
    counts = dict(wh.rows("SELECT gate_path, value FROM raw.cytometry_population_stats WHERE statistic = 'Count'"))
    for gate in ("Rectangle1", "Polygon1", "Ellipse1", "And1", "FL2P-FL4P", "Polygon1/ParAnd2", "ScaleRect1/ScalePar1"):
        assert counts[gate] == _truth(gate.rsplit("/", 1)[-1]), gate
    assert wh.rows("SELECT gating, gates > 0 FROM raw.cytometry_fcs_files ORDER BY gating NULLS LAST") == [
        ("gatingml", True),
        (None, False),
    ]
    assert len(gated) == 2
    report = wh.ingest("cytometry_fcs")
    assert len(report.files_skipped) == 2 and len(gated) == 2  # nothing read or gated again


def test_the_acquisition_checks_flag_few_events_a_missing_marker_and_another_day(wh, tmp_path):
    from expectations.results import check_suite
    from expectations.suites import all_suites

    markers = ["CD45", "CD3", "CAR", "CD4", "CD8", "CD19"]  # the CART-DETECT-v2 panel's (cytometry_panel_markers)
    handle = io.BytesIO()
    flowio.create_fcs(
        handle, [1.0] * (100_000 * len(markers)), [f"FL{i}-A" for i in range(6)], markers, {"DATE": "17-MAR-2024"}
    )
    land(
        wh, "A1_T1.fcs", handle.getvalue()
    )  # collected 2024-03-16: acquired the next day, every marker, 100,000 events
    land(wh, "A2_T1.fcs", fcs_bytes(CYT="BD FACSLyric", DATE="22-MAR-2024"))  # 10 events, CD3 only, 6 days later
    wh.ingest("cytometry_manifest")
    wh.ingest("cytometry_fcs")
    suite = next(s for s in all_suites() if s.name == "raw_cytometry_fcs_files")
    outcome = check_suite(wh.con, suite, tmp_path / "gx", run_id="fcs")
    assert outcome.rows_validated == 2
    failed = {o.expectation.column: o for o in outcome.failed}
    assert set(failed) == {"enough_events", "acquired_on_the_day", "every_marker"}
    rows = wh.rows(
        "SELECT column_name, file FROM quality.failing_rows WHERE suite = 'raw_cytometry_fcs_files' ORDER BY 1"
    )
    bad = f"{FCS}/site_7/{hmac_tube_key(SECRET, 'A2_T1.fcs', 'site_7')}.fcs"
    assert rows == [("acquired_on_the_day", bad), ("enough_events", bad), ("every_marker", bad)]
    assert wh.rows("SELECT missing_markers FROM raw.cytometry_fcs_files WHERE total_events = 10") == [
        (["CAR", "CD19", "CD4", "CD45", "CD8"],)
    ]

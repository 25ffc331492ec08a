"""No name from outside is spliced into the pipeline's SQL (issue 28, item 1).

The attack: a form name in a site's data dictionary, or in the metadata a compromised REDCap
server answers `cartwh pull`, that closes the DDL ingestion builds from it and runs statements of
its own (`COPY ... TO` a file; the chained version copied names, MRNs and birth dates out of the
archive into the analysts' reports folder). Each payload is fed through every door a name comes
in by: a site dictionary as the UI writes it (CSV) and as the API does (JSON), the project's
setup (events, instrument-event mapping), a site mapping, and the fake REDCap server. Each is
refused before anything runs, naming the file and the form, and no file is written. Behind the
refusals, two guards of their own: a table is never named after a name outside REDCap's rule,
and the pipeline's DuckDB connection cannot touch a file outside the archive (and the folder
publication writes), nor change a setting, whatever statement reaches it.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.ingest.redcap_loader import table_name
from cartwh.pull.redcap import Connection, PullError, pull
from tests.conftest import Warehouse
from tests.fake_redcap import TOKEN, Server

SECRET = "sql-injection-test-secret"
HEADER = (
    '"Variable / Field Name","Form Name","Section Header","Field Type","Field Label",'
    '"Choices, Calculations, OR Slider Labels","Field Note","Text Validation Type OR Show Slider Number",'
    '"Text Validation Min","Text Validation Max","Identifier?"'
)


def payloads(root: Path) -> dict[str, str]:
    """The form names of the attack report, aimed at files under `root`."""
    leak = root / "leak"
    return {
        "statements": f"toxicity (a INTEGER); COPY (SELECT 42 AS x) TO '{leak}' (FORMAT csv); CREATE TABLE x (b INTEGER",
        "archive to reports": (
            f"toxicity (a INTEGER); COPY (SELECT patient_name, mrn, birth_date FROM read_csv('{root}/archive/*/*.csv')) "
            f"TO '{root}/reports/leak' (FORMAT csv); CREATE TABLE x (b INTEGER"
        ),
        "dot": "tox.icity",
        "quote": 'tox"icity',
    }


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _land(wh: Warehouse, form: str, json_dictionary: bool = False) -> Path:
    """A site folder whose dictionary puts field `grade` in `form`, with a record export."""
    folder = wh.landing / "redcap" / "ulm"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [("pid", "enrol", "text", "Participant", ""), ("weight", "enrol", "text", "Weight", "number")]
    rows.append(("grade", form, "text", "Grade", "integer"))
    if json_dictionary:
        metadata = [
            {
                "field_name": f,
                "form_name": m,
                "field_type": t,
                "field_label": label,
                "text_validation_type_or_show_slider_number": v,
            }
            for f, m, t, label, v in rows
        ]
        (folder / "dictionary.json").write_text(json.dumps(metadata), encoding="utf-8")
    else:
        lines = [HEADER] + [f"{f},{_csv_cell(m)},,{t},{label},,,{v},,," for f, m, t, label, v in rows]
        (folder / "dictionary.csv").write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    (folder / "records.csv").write_text("pid,weight,enrol_complete,grade\n1,61,2,3\n", encoding="utf-8")
    return folder


def _nothing_happened(wh: Warehouse, root: Path) -> None:
    assert not (root / "leak").exists() and not (root / "reports").exists()
    tables = {t for (t,) in wh.rows("SELECT schema_name || '.' || table_name FROM duckdb_tables()")}
    assert not any("x" == t.split(".")[1] or "ulm" in t or "toxicity (" in t for t in tables), tables
    assert wh.rows("SELECT count(*) FROM raw.landed_files") == [(0,)]


@pytest.fixture
def wh(open_warehouse):
    return open_warehouse(Warehouse, SECRET)


@pytest.mark.parametrize("json_dictionary", [False, True], ids=["UI dictionary", "API metadata"])
@pytest.mark.parametrize("payload", ["statements", "archive to reports", "dot", "quote"])
def test_a_form_name_in_a_site_dictionary_is_refused_naming_file_and_form(wh, tmp_path, payload, json_dictionary):
    form = payloads(tmp_path)[payload]
    _land(wh, form, json_dictionary)
    report = wh.ingest(raise_on_failure=False)
    [failure] = report.failures
    dictionary, row, column = (
        ("redcap/ulm/dictionary.json", 3, "form_name")
        if json_dictionary
        else ("redcap/ulm/dictionary.csv", 4, "Form Name")
    )
    assert str(failure).startswith(
        f"redcap/ulm/records.csv: not loaded: its project's metadata cannot be used: {dictionary} "
        f"(row {row}, column '{column}'): form '{form}' of field 'grade' is not a REDCap instrument name"
    )
    _nothing_happened(wh, tmp_path)


@pytest.mark.parametrize(
    "file, content, refusal",
    [
        (
            "form_event_mapping.json",
            lambda form: [{"arm_num": 1, "unique_event_name": "baseline_arm_1", "form": form}],
            "redcap/ulm/form_event_mapping.json (row 2, column 'form'): form '{form}' is not in the data dictionary",
        ),
        (
            "events.json",
            lambda form: [{"event_name": "Baseline", "arm_num": 1, "unique_event_name": form}],
            "redcap/ulm/events.json (row 1, column 'unique_event_name'): '{form}' is not a REDCap unique event name",
        ),
        (
            "repeating_forms_events.json",
            lambda form: [{"event_name": "", "form_name": form}],
            "redcap/ulm/repeating_forms_events.json: repeating form '{form}' is not in the data dictionary",
        ),
    ],
)
def test_a_form_or_event_name_in_the_project_setup_is_refused(wh, tmp_path, file, content, refusal):
    form = payloads(tmp_path)["statements"]
    folder = _land(wh, "grades")
    (folder / file).write_text(json.dumps(content(form)), encoding="utf-8")
    [failure] = wh.ingest(raise_on_failure=False).failures
    assert refusal.format(form=form) in str(failure)
    _nothing_happened(wh, tmp_path)


def test_a_form_name_in_a_mapping_is_refused_with_its_line(wh, tmp_path):
    form = payloads(tmp_path)["statements"]
    folder = _land(wh, "grades")
    (folder / "mapping.yml").write_text(f'fields:\n  grade: apheresis_number\nevents:\n  baseline: ["{form}"]\n')
    [failure] = wh.ingest(raise_on_failure=False).failures
    assert f"redcap/ulm/mapping.yml (line 4): '{form}' is not a canonical form" in str(failure)
    _nothing_happened(wh, tmp_path)


@pytest.mark.parametrize("payload", ["statements", "archive to reports", "dot", "quote"])
def test_a_form_name_served_by_redcap_is_refused_before_anything_is_written(tmp_path, demo_redcap_project, payload):
    project = demo_redcap_project
    form = payloads(tmp_path)[payload]
    for field in project.metadata:
        if field["form_name"] == "toxicity":
            field["form_name"] = form
    landing, archive = tmp_path / "landing", tmp_path / "archive"
    with Server(project) as url, pytest.raises(PullError) as refused:
        pull(Connection(url, TOKEN), "HUVR", landing, archive, now=datetime(2026, 1, 5, 2))
    row = next(n for n, f in enumerate(project.metadata, start=1) if f["form_name"] == form)
    assert str(refused.value).startswith(
        f"the project's metadata cannot be used: the project's metadata (API) (row {row}, column 'form_name'): "
        f"form '{form}' of field "
    )
    assert not any(p.is_file() for p in landing.rglob("*")) and not archive.exists()
    assert not (tmp_path / "leak").exists() and not (tmp_path / "reports").exists()


@pytest.mark.parametrize("form", ['tox"icity', "tox.icity", "toxicity; DROP TABLE raw.quarantine", "Toxicity", ""])
def test_no_table_is_named_after_a_name_outside_redcaps_rule(form):
    with pytest.raises(ValueError, match="is not a REDCap instrument name: no table is named after it"):
        table_name(form)
    assert table_name("toxicity") == "raw.redcap_toxicity" and project_dictionary().forms


def test_the_ingestion_connection_reaches_no_file_but_the_archive(wh, tmp_path):
    _land(wh, "grades")
    wh.ingest()
    archived = wh.rows("SELECT archive_path FROM raw.landed_files")[0][0]
    assert wh.rows(f"SELECT count(*) FROM read_csv('{archived}')") == [(1,)]  # what ingestion reads
    for statement in (
        f"COPY (SELECT 42) TO '{tmp_path}/leak' (FORMAT csv)",
        f"COPY (SELECT 42) TO '{tmp_path}/reports/leak' (FORMAT csv)",
        "SELECT * FROM read_text('/etc/hostname')",
        f"ATTACH '{tmp_path}/other.duckdb' AS other",
    ):
        with pytest.raises(duckdb.PermissionException):
            wh.con.execute(statement)
    for statement in (
        "SET enable_external_access = true",
        "SET memory_limit = '100GB'",
        "SET allowed_directories = ['/']",
    ):
        with pytest.raises(duckdb.Error, match="locked|Cannot change"):
            wh.con.execute(statement)
    assert not (tmp_path / "leak").exists() and not (tmp_path / "other.duckdb").exists()


def test_the_runs_connection_reaches_no_file_but_the_archive_and_the_copy_being_published(tmp_path):
    from assets.resources import DataQuality
    from assets.resources import Warehouse as WarehouseResource

    data = tmp_path / "data"
    resource = WarehouseResource(
        database=str(data / "warehouse.duckdb"),
        published=str(data / "published" / "warehouse.duckdb"),
        data_quality=DataQuality(
            gx_root=str(data / "quality"),
            reports=str(data / "reports"),
            restricted=str(data / "data_manager"),
            archive=str(data / "archive"),
        ),
    )
    with resource.get_connection() as con:
        (data / "archive").mkdir()
        con.execute(f"COPY (SELECT 42 AS x) TO '{data}/archive/ok.csv' (FORMAT csv)")  # the archive: allowed
        for target in (f"{data}/reports/leak.csv", f"{data}/published/warehouse.duckdb", f"{tmp_path}/leak.csv"):
            with pytest.raises(duckdb.PermissionException):
                con.execute(f"COPY (SELECT 42 AS x) TO '{target}' (FORMAT csv)")
    assert not (data / "reports").exists() and not (tmp_path / "leak.csv").exists()

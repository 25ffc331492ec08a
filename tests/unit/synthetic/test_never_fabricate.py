"""Synthetic patients are never written beside real exports (issue 22, defect 1; cartwh/synthetic.py).

The demo cohort is written only by `cartwh run --demo` (what `make run` does), only into a data
folder that has never held anything and never under a real pseudonym key; one rule (each
source's own, case-insensitive) says what a source reads, for ingestion, the emptiness test and
the landing sensor alike. Everything built from the demo says so: tests/e2e/test_never_fabricate.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cartwh import cli
from cartwh.cli import run as run_command
from cartwh.generate import generate_landing
from cartwh.night.landing import exports, landing_state
from cartwh.synthetic import MARKER, SyntheticBesideReal, files_in, is_synthetic
from tests.conftest import Warehouse
from tests.paths import REAL_EXPORTS

REAL = REAL_EXPORTS / "redcap"


def _command(*argv: str) -> int:
    """A `cartwh` command in this process, without `main`'s process-wide umask (the test's neighbours keep theirs)."""
    args = cli.build_parser().parse_args(list(argv))
    return args.handler(args)


@pytest.fixture
def data(tmp_path, monkeypatch):
    """A data folder (CARTWH_DATA) and no pseudonym key set, as on a fresh clone."""
    monkeypatch.setenv("CARTWH_DATA", str(tmp_path))
    for variable in ("CARTWH_WAREHOUSE", "CARTWH_LANDING", "CARTWH_ARCHIVE", "CARTWH_PUBLISHED"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("CARTWH_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("CARTWH_PSEUDONYM_KEY_FILE", raising=False)
    monkeypatch.delenv("CARTWH_REDCAP_SITES", raising=False)
    return tmp_path


def _site_files(landing: Path) -> dict[str, bytes]:
    """What a real site's first deliveries may look like: none of them `*.csv` in lower case."""
    files = {
        "redcap/site_a/project.xml": (REAL / "longitudinal" / "project.xml").read_bytes()
        if REAL.is_dir()
        else b"<ODM/>",
        "redcap/site_b/DATA.CSV": b"record_id,sex\n1,1\n",
        "cytometry/statistics/LAB1/2025-01.txt": b"\tCD3 | Count\t\nS1.fcs\t100\t\n",
    }
    for name, content in files.items():
        (landing / name).parent.mkdir(parents=True, exist_ok=True)
        (landing / name).write_bytes(content)
    return files


@pytest.mark.parametrize(
    "kept", ["redcap/site_a/project.xml", "redcap/site_b/DATA.CSV", "cytometry/statistics/LAB1/2025-01.txt"]
)
def test_a_landing_holding_any_site_file_never_gets_the_demo(data, kept):
    landing = data / "landing"
    for name in _site_files(landing):
        if name != kept:
            (landing / name).unlink()
    run_command._write_demo()
    assert [p.relative_to(landing).as_posix() for p in files_in(landing)] == [kept]
    assert not (landing / MARKER).exists()
    # ... and the file is an export its source reads: ingestion, the sensor and `cartwh run` agree
    assert [p.relative_to(landing).as_posix() for p in exports(landing)] == [kept]
    assert landing_state(landing).files == 1


def test_the_sensor_sees_upper_case_and_text_deliveries(data):
    landing = data / "landing"
    _site_files(landing)
    before = landing_state(landing)
    (landing / "cytometry" / "statistics" / "LAB1" / "2025-02.TXT").write_bytes(b"\tCD3 | Count\t\nS2.fcs\t90\t\n")
    after = landing_state(landing)
    assert (before.files, after.files) == (3, 4) and before.fingerprint != after.fingerprint


def test_an_emptied_landing_of_an_existing_warehouse_is_nothing_new(data):
    """A registry that moves its landed files to the site's own archive: the next run ingests
    nothing, it never writes the demo."""
    (data / "warehouse.duckdb").write_bytes(b"")  # any warehouse: this folder has been used
    (data / "landing").mkdir()
    run_command._write_demo()
    assert files_in(data / "landing") == []
    assert run_command._nothing_to_run() is False  # the night runs: nothing new tonight


def test_an_archive_alone_says_the_folder_was_used(data):
    (data / "archive" / "ab").mkdir(parents=True)
    (data / "archive" / "ab" / "ab12.csv").write_bytes(b"x")
    run_command._write_demo()
    assert not (data / "landing").exists()


def test_never_under_a_real_key(data, monkeypatch, capsys):
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", "a-real-programme-key")
    run_command._write_demo()
    assert files_in(data / "landing") == []
    assert "never written under it" in capsys.readouterr().err


def test_run_without_demo_never_generates(data, capsys):
    """`cartwh run` on a data folder that never held anything (a mistyped CARTWH_DATA): it says
    where exports go, and writes nothing."""
    assert _command("run") == 1
    assert "Nothing has landed" in capsys.readouterr().err
    assert not (data / "landing").exists() and not (data / "warehouse.duckdb").exists()


def test_demo_only_into_a_fresh_folder(data):
    run_command._write_demo()
    landing = data / "landing"
    assert (landing / MARKER).exists() and len(exports(landing)) > 100
    count = len(files_in(landing))
    run_command._write_demo()  # a second `make run`: the folder holds the demo now, nothing is added
    assert len(files_in(landing)) == count


def test_generate_refuses_a_landing_holding_any_file(tmp_path, capsys):
    _site_files(tmp_path / "landing")
    assert _command("generate", "--landing", str(tmp_path / "landing")) == 1
    assert "already holds files" in capsys.readouterr().err


def test_synthetic_exports_never_land_beside_real_ones(open_warehouse):
    wh = open_warehouse(Warehouse, "a-real-programme-key")
    (wh.landing / "redcap").mkdir(parents=True)
    (wh.landing / "redcap" / "site_export.csv").write_text(_one_record())
    wh.ingest()
    assert not is_synthetic(wh.con)
    generate_landing(wh.landing / "demo_somewhere_else")  # the generator marks the folder it writes...
    shutil.move(wh.landing / "demo_somewhere_else" / MARKER, wh.landing / MARKER)  # ...here, by mistake
    with pytest.raises(SyntheticBesideReal, match="never land beside real ones"):
        wh.ingest()


def _one_record() -> str:
    from cartwh.contract.redcap_dictionary import project_dictionary

    header = project_dictionary().export_header()
    row = {"record_id": "1", "sex": "1", "demographics_complete": "2"}
    return ",".join(header) + "\n" + ",".join(row.get(c, "") for c in header) + "\n"


def test_a_rebuilt_demo_warehouse_is_still_synthetic(open_warehouse, generated):
    wh = open_warehouse(Warehouse, "cartwh-test-secret-not-for-real-patients")
    generated(wh.landing)
    wh.ingest()
    assert is_synthetic(wh.con)
    shutil.rmtree(wh.landing)  # the landing moved away; the archive alone says what this was
    wh.landing.mkdir()
    wh.ingest()
    assert is_synthetic(wh.con)

"""A registry landed as FCS files only (cartwh/generate/fcs_export.py) builds the same cytometry marts
as its table exports (up to the tables' rounding of percentages to three decimals)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.ingest.dictionary_tables import publish_dictionary
from cartwh.ingest.load import SOURCES, ingest_source
from cartwh.ingest.warehouse import connect
from tests.conftest import run_dbt
from tests.unit.generate.test_generate_fcs import _registry

MARTS = ("marts.car_t_expansion", "marts.car_t_kinetics", "marts.bca_episodes", "marts.patients")


def _marts(root: Path, fcs_files: str) -> dict[str, list[tuple]]:
    """The registry (FlowJo's tables without absolute counts) landed as tables or as FCS files only,
    ingested and built; its marts."""
    _registry(root, fcs_files)
    warehouse = root / "warehouse.duckdb"
    con = connect(warehouse)
    try:
        publish_dictionary(con, project_dictionary())  # what the main job's ingestion does besides the sources
        for source in SOURCES:
            ingest_source(con, root / "landing", source, root / "archive")
    finally:
        con.close()
    for step in (("seed",), ("run",)):
        done = run_dbt(warehouse, root, *step)
        assert done.returncode == 0, done.stdout[-3000:]
    con = connect(warehouse, read_only=True)
    try:
        return {m: con.execute(f"SELECT * FROM {m} ORDER BY ALL").fetchall() for m in MARTS}
    finally:
        con.close()


def _close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return b == pytest.approx(a, rel=1e-3, abs=1e-3)
    return a == b


def test_a_registry_landed_as_fcs_files_builds_the_marts_its_tables_build(tmp_path, monkeypatch):
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", "fcs-marts-test")
    tables, gated = _marts(tmp_path / "tables", "none"), _marts(tmp_path / "fcs", "all")
    assert not list((tmp_path / "fcs" / "landing" / "cytometry").glob("statistics/**/*.csv"))
    for mart in MARTS:
        assert len(tables[mart]) == len(gated[mart]) > 0, mart
        for a, b in zip(tables[mart], gated[mart], strict=True):
            assert all(_close(x, y) for x, y in zip(a, b, strict=True)), (mart, a, b)

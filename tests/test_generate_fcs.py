"""The demo's tubes as FCS files (cartwh/generate/fcs_export.py): the shipped GatingML templates
are the generator's, the FCS files they gate give the tables' counts, and a registry landed as
FCS files only builds the same cytometry marts as its table exports (up to the tables' rounding
of percentages to three decimals)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cartwh.contract.cytometry import PANELS
from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.generate import generate_landing
from cartwh.generate.fcs_export import template_xml
from cartwh.ingest.dictionary_tables import publish_dictionary
from cartwh.ingest.fcs_gating import GATINGML, Gating, Job, analyse
from cartwh.ingest.fcs_loader import SHIPPED_TEMPLATES
from cartwh.ingest.load import SOURCES, ingest_source
from cartwh.ingest.warehouse import connect
from tests.conftest import run_dbt


@pytest.mark.parametrize("panel", sorted(PANELS))
def test_the_shipped_template_is_the_generators(panel):
    assert (SHIPPED_TEMPLATES / f"{panel}.xml").read_text() == template_xml(panel)


def _registry(root: Path, fcs_files: str) -> Path:
    """A three-patient registry at one site, its events at 1 %, landed as tables or FCS files."""
    generate_landing(root / "landing", patients=3, sites=1, fcs_files=fcs_files, events_scale=0.01)
    return root / "landing" / "cytometry"


def test_every_tubes_fcs_file_gates_to_its_tables_counts(tmp_path):
    tables, files = _registry(tmp_path / "tables", "none"), _registry(tmp_path / "fcs", "all")
    assert not (tables / "fcs").exists() and not (files / "statistics").exists()
    panels = pd.concat(pd.read_csv(p, dtype=str) for p in (files / "manifests").rglob("*.csv"))
    panel_of = dict(zip(panels["fcs_file"], panels["panel"], strict=True))
    rows = pd.concat(pd.read_csv(p, dtype=str) for p in (tables / "statistics").rglob("*.csv")).set_index("Sample")
    fcs = sorted((files / "fcs").rglob("*.fcs"))
    assert {p.name for p in fcs} == set(panel_of)
    first = {}  # two tubes of each panel: gating every tube is the route's end-to-end test's
    for path in fcs:
        first.setdefault(panel_of[path.name], []).append(path)
    assert len(first) >= 3
    for path in (p for paths in first.values() for p in paths[:2]):
        template = Gating(GATINGML, str(SHIPPED_TEMPLATES / f"{panel_of[path.name]}.xml"), "")
        analysis = analyse(Job(str(path), path.name, template))
        gated = {f"{g.path} | Count": g.count for g in analysis.gates}
        gated |= {f"{g.path} | Freq. of Parent": 100 * g.count / (g.parent_count or 1) for g in analysis.gates}
        gated |= {f"{g.path} | Freq. of Total": 100 * g.count / g.total for g in analysis.gates}
        written = rows.loc[path.name].dropna()
        assert len(written) > 0
        for column, value in written.items():
            assert gated[column] == pytest.approx(float(value), abs=5e-4 if "Freq." in column else 0), (
                path.name,
                column,
            )


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


@pytest.mark.e2e
def test_a_registry_landed_as_fcs_files_builds_the_marts_its_tables_build(tmp_path, monkeypatch):
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", "fcs-marts-test")
    tables, gated = _marts(tmp_path / "tables", "none"), _marts(tmp_path / "fcs", "all")
    assert not list((tmp_path / "fcs" / "landing" / "cytometry").glob("statistics/**/*.csv"))
    for mart in MARTS:
        assert len(tables[mart]) == len(gated[mart]) > 0, mart
        for a, b in zip(tables[mart], gated[mart], strict=True):
            assert all(_close(x, y) for x, y in zip(a, b, strict=True)), (mart, a, b)

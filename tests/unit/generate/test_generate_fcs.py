"""The demo's tubes as FCS files (cartwh/generate/fcs_export.py): the shipped GatingML templates
are the generator's, and the FCS files they gate give the tables' counts. A registry landed as FCS
files only: tests/e2e/test_generate_fcs.py."""

from __future__ import annotations

import io
from pathlib import Path

import flowio
import numpy as np
import pandas as pd
import pytest

from cartwh.contract.cytometry import PANELS
from cartwh.generate import generate_landing
from cartwh.generate.fcs_export import channels, fcs_file, spillover_keyword, template_xml
from cartwh.ingest.fcs_gating import GATINGML, Gating, Job, analyse
from cartwh.ingest.fcs_loader import SHIPPED_TEMPLATES


@pytest.mark.parametrize("panel", sorted(PANELS))
def test_the_shipped_template_is_the_generators(panel):
    assert (SHIPPED_TEMPLATES / f"{panel}.xml").read_text() == template_xml(panel)


def test_an_fcs_file_has_the_bytes_flowio_writes_from_the_events():
    """fcs_file hands FlowIO the events as one block; FlowIO's own copy, value by value, gives the same file."""
    panel = sorted(PANELS)[0]
    events = np.random.default_rng(5).uniform(-100, 262_144, (1_000, len(channels(panel)))).astype(np.float32)
    keywords = {"CYT": "demo", "TUBE NAME": panel}
    handle = io.BytesIO()
    flowio.create_fcs(
        handle,
        events.ravel(),
        [n for n, _ in channels(panel)],
        [m for _, m in channels(panel)],
        metadata_dict={"SPILLOVER": spillover_keyword(panel), **keywords},
    )
    written = fcs_file(panel, events, keywords)
    assert written == handle.getvalue()
    assert np.array_equal(flowio.FlowData(io.BytesIO(written)).as_array(preprocess=False), events)


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

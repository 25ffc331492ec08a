"""Gating FCS files with FlowKit, against answers published with the files (never FlowKit's own
output alone): the GatingML 2.0 compliance set (ISAC) — data1.fcs, one gate (or a few) per
gml/*.xml and the published membership of every event in every gate, truth/Results_<gate>.txt —
and a FlowJo 10 workspace whose ellipse gate FlowJo counted 51 events in (the count FlowJo wrote
into the workspace). Both from FlowKit's repository, kept in ../shared/real-exports/flowkit/."""

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from cartwh.ingest import fcs_gating
from cartwh.ingest.fcs_gating import GATINGML, WORKSPACE, Gating, Job, analyse, analyse_all


def _real_exports() -> Path | None:
    """../shared/real-exports beside the clone (or beside the folder holding a worktree)."""
    return next(
        (
            p / "shared" / "real-exports"
            for p in Path(__file__).resolve().parents
            if (p / "shared" / "real-exports").is_dir()
        ),
        None,
    )


REAL = _real_exports()
pytestmark = pytest.mark.skipif(REAL is None, reason="../shared/real-exports is not beside the clone")
REFERENCE = REAL / "flowkit" / "gatingml_reference" if REAL else Path()
LINES = REAL / "flowkit" / "simple_line_example" if REAL else Path()


def _gating(kind: str, path: Path) -> Gating:
    return Gating(kind, str(path), hashlib.sha256(path.read_bytes()).hexdigest())


def _truth(gate_id: str) -> int:
    """A gate's count as published: the number of events marked 1 in its Results file."""
    lines = (REFERENCE / "truth" / f"Results_{gate_id}.txt").read_text().split()
    return sum(1 for line in lines if line.strip() == "1")


def _gate_ids(gml: Path) -> list[str]:
    """The ids of the gates a GatingML file defines (a quadrant gate's ids are its quadrants')."""
    text = gml.read_text()
    quadrants = re.findall(r"<gating:Quadrant\s+gating:id=\"([^\"]+)\"", text)
    gates = re.findall(r"<gating:(\w+)Gate\s+gating:id=\"([^\"]+)\"", text)
    return quadrants + [gate_id for kind, gate_id in gates if kind != "Quadrant"]


GML_FILES = sorted((REFERENCE / "gml").glob("gml_*_gate.xml")) if REAL else []


@pytest.mark.parametrize("gml", GML_FILES, ids=lambda p: p.stem)
def test_every_gatingml_compliance_gate_counts_the_published_events(gml):
    analysis = analyse(Job(str(REFERENCE / "data1.fcs"), "data1.fcs", _gating(GATINGML, gml)))
    assert analysis.unreadable is None and analysis.not_gated is None
    counts = {g.path.rsplit("/", 1)[-1]: g.count for g in analysis.gates}
    for gate_id in _gate_ids(gml):
        if (REFERENCE / "truth" / f"Results_{gate_id}.txt").exists():
            assert counts[gate_id] == _truth(gate_id), gate_id


def test_the_compliance_set_covers_every_kind_of_gate_and_transform():
    """What the parametrised test above proves, by the gates and transforms the set holds."""
    every = (REFERENCE / "gml" / "gml_all_gates.xml").read_text() + "".join(p.read_text() for p in GML_FILES)
    for kind in ("RectangleGate", "PolygonGate", "EllipsoidGate", "QuadrantGate", "BooleanGate"):
        assert f"<gating:{kind}" in every
    for transform in ("flin", "flog", "logicle", "hyperlog", "fasinh", "fratio", "spectrumMatrix"):
        assert f"<transforms:{transform}" in every
    assert (
        sum(
            1
            for gml in GML_FILES
            for gate_id in _gate_ids(gml)
            if (REFERENCE / "truth" / f"Results_{gate_id}.txt").exists()
        )
        >= 50
    )


def test_a_flowjo_workspace_gives_the_count_flowjo_gave(tmp_path):
    """The workspace names its sample by the file's name; the private copy is named otherwise."""
    copy = tmp_path / "7.fcs"
    shutil.copyfile(LINES / "data_set_simple_line_100.fcs", copy)
    workspace = LINES / "single_ellipse_51_events.wsp"
    flowjo = re.search(r'<Population name="ellipse1"[^>]*count="(\d+)"', workspace.read_text()).group(1)
    analysis = analyse(Job(str(copy), "data_set_simple_line_100.fcs", _gating(WORKSPACE, workspace)))
    assert [(g.path, g.count, g.parent_count, g.total) for g in analysis.gates] == [("ellipse1", int(flowjo), 100, 100)]
    assert int(flowjo) == 51


def test_a_workspace_without_the_sample_is_reported_not_raised(tmp_path):
    analysis = analyse(
        Job(
            str(LINES / "data_set_simple_line_100.fcs"),
            "another.fcs",
            _gating(WORKSPACE, LINES / "simple_poly_and_rect.wsp"),
        )
    )
    assert analysis.gates == [] and "no sample named 'another.fcs'" in analysis.not_gated
    assert analysis.keywords["tot"] == "100"  # the file itself was read


def test_a_truncated_fcs_file_is_refused_with_its_reason(tmp_path):
    content = (REFERENCE / "data1.fcs").read_bytes()
    (tmp_path / "cut.fcs").write_bytes(content[: len(content) // 2])
    analysis = analyse(
        Job(str(tmp_path / "cut.fcs"), "cut.fcs", _gating(GATINGML, REFERENCE / "gml" / "gml_rect1_gate.xml"))
    )
    assert analysis.unreadable.startswith("not a readable FCS file") and "greater than file size" in analysis.unreadable
    assert analysis.gates == [] and analysis.keywords == {}


def test_files_gated_in_worker_processes_count_as_in_one():
    gating = _gating(GATINGML, REFERENCE / "gml" / "gml_all_gates.xml")
    jobs = [Job(str(REFERENCE / "data1.fcs"), "data1.fcs", gating)] * 2
    first, second = analyse_all(jobs, workers=2)
    assert first.gates == second.gates and {g.path: g.count for g in first.gates}["Rectangle1"] == _truth("Rectangle1")


def test_a_few_files_are_gated_here_and_a_large_batch_in_workers(tmp_path, monkeypatch):
    """A worker costs seconds to start: the demo's five tubes (45 MB) are gated in this process,
    a batch of at least POOL_BYTES of files in WORKERS processes."""
    monkeypatch.setattr(fcs_gating, "WORKERS", 2)
    small = Job(str(REFERENCE / "data1.fcs"), "data1.fcs")
    assert fcs_gating.workers_for([small] * 5) == 1
    large = tmp_path / "large.fcs"
    with open(large, "wb") as handle:  # sparse: its size without writing it
        handle.truncate(fcs_gating.POOL_BYTES)
    assert fcs_gating.workers_for([small, Job(str(large), "large.fcs")]) == 2
    assert fcs_gating.workers_for([Job(str(tmp_path / "gone.fcs"), "gone.fcs")]) == 1

"""Write the demo's tubes as FCS files, and the GatingML 2.0 template that gates them.

Each panel's template (`template_xml`) is the panel's gate tree with one marker per gate: a gate
takes the events of its parent whose compensated, logicle-transformed value on its marker lies on
its side of 0.5 (Lymphocytes: low side scatter; Beads: low forward scatter, outside the leukocyte
tree). A tube's events (`tube_events`) are drawn so that the template gives exactly the tube's
counts (cytometry_export.gate_counts): for every gate, that many of its parent's events, chosen
at random, are drawn on its side and the rest on the other; the values are drawn in the
transformed space, transformed back and un-compensated with the file's $SPILLOVER, so FlowKit must
apply both to find the counts again. A demo template, not a clinical gating strategy: real panels
gate subsets on combinations of markers.
"""

from __future__ import annotations

import io
from array import array
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from cartwh.contract.cytometry import PANELS
from cartwh.generate.cytometry_export import gate_counts

# The marker each gate is drawn on, by the gate's own name, and whether it takes the high side.
_GATE_MARKERS = {
    "Leukocytes": ("CD45", True),
    "Lymphocytes": ("SSC-A", False),
    "CD3+": ("CD3", True),
    "CAR+": ("CAR", True),
    "CD19-CAR+": ("CAR", True),
    "CAR-": ("CAR", False),
    "CD4+": ("CD4", True),
    "CD8+": ("CD8", True),
    "CD19+ B cells": ("CD19", True),
    "B cells (CD19+)": ("CD19", True),
    "Naive (CD45RA+ CD62L+ CD27+ CD95-)": ("CCR7", True),
    "SCM (CD45RA+ CD62L+ CD27++ CD95+)": ("CD95", True),
    "CM (CD45RA- CD62L+)": ("CD62L", True),
    "EM (CD45RA- CD62L-)": ("CD45RO", True),
    "TEMRA (CD45RA+ CD62L-)": ("CD45RA", True),
    "PD1+": ("PD1", True),
    "LAG3+": ("LAG3", True),
    "Ki67+": ("Ki67", True),
    "CD71+": ("CD71", True),
    "Monocytes": ("CD14", True),
    "Classical (CD14++ CD16-)": ("CCR2", True),
    "Intermediate (CD14++ CD16+)": ("HLA-DR", True),
    "Non-classical (CD14+ CD16++)": ("CX3CR1", True),
    "Plasmacytoid DC": ("CD123", True),
    "Myeloid DC": ("CD11c", True),
    "Lymphoblasts (CD19+ CD10+ CD34+)": ("CD34", True),
    "SCM-like (CD45RA+ CD62L+ CD95+)": ("CD95", True),
    "Beads": ("FSC-A", False),
}
_SCATTER = ("FSC-A", "SSC-A")
_SCATTER_MAX = 262144.0
_SCATTER_CUT = {"FSC-A": 40000.0, "SSC-A": 60000.0}
LOGICLE = {"T": 262144.0, "W": 0.5, "M": 4.5, "A": 0.0}
_CUT = 0.5  # in the logicle scale
_SPILL = 0.04  # each fluorochrome's spill into the next channel


@dataclass(frozen=True)
class TemplateGate:
    gate_id: str  # an XML name, as GatingML requires
    path: str  # the panel's gate path
    marker: str
    high: bool
    parent: str | None  # the parent's path


def template_gates(panel: str) -> list[TemplateGate]:
    """The panel's gates in tree order, with the gates its paths pass through (the memory
    panel's Leukocytes, the CAR- branch's CAR-), each with its marker."""
    paths = []
    for gate in PANELS[panel]:
        parts = gate.path.split("/")
        paths += ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ordered = sorted(dict.fromkeys(paths), key=lambda p: (p.count("/"), paths.index(p)))
    return [
        TemplateGate(f"gate{i:02d}", path, *_GATE_MARKERS[path.rsplit("/", 1)[-1]], path.rpartition("/")[0] or None)
        for i, path in enumerate(ordered, start=1)
    ]


def channels(panel: str) -> list[tuple[str, str]]:
    """(PnN, PnS) of the panel's FCS files: the scatter channels, then one per marker."""
    markers = sorted({g.marker for g in template_gates(panel)} - set(_SCATTER))
    return [(s, "") for s in _SCATTER] + [(f"FL{i}-A", m) for i, m in enumerate(markers, start=1)]


def _fluorescence(panel: str) -> list[str]:
    return [name for name, marker in channels(panel) if marker]


def spillover(panel: str) -> np.ndarray:
    n = len(_fluorescence(panel))
    return np.eye(n) + np.eye(n, k=1) * _SPILL


def spillover_keyword(panel: str) -> str:
    names, matrix = _fluorescence(panel), spillover(panel)
    return ",".join([str(len(names)), *names, *(f"{v:g}" for v in matrix.ravel())])


def template_xml(panel: str) -> str:
    """The panel's GatingML 2.0 template: logicle on every fluorescence channel, compensated with
    the file's own $SPILLOVER; each gate's name (its path's last part) in custom_info."""
    names = dict((m, n) for n, m in channels(panel) if m) | {s: s for s in _SCATTER}
    by_path = {g.path: g for g in template_gates(panel)}
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<gating:Gating-ML",
        '    xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"',
        '    xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations"',
        '    xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">',
        f"  <data-type:custom_info>cartwh demo template of panel {escape(panel)}: one marker per gate "
        "(cartwh/generate/fcs_export.py); not a clinical gating strategy</data-type:custom_info>",
        '  <transforms:transformation transforms:id="logicle">',
        "    <transforms:logicle " + " ".join(f'transforms:{k}="{v:g}"' for k, v in LOGICLE.items()) + " />",
        "  </transforms:transformation>",
    ]
    for gate in by_path.values():
        parent = f' gating:parent_id="{by_path[gate.parent].gate_id}"' if gate.parent else ""
        scatter = gate.marker in _SCATTER
        cut = _SCATTER_CUT[gate.marker] if scatter else _CUT
        side = f'gating:min="{cut:g}"' if gate.high else f'gating:max="{cut:g}"'
        reference = (
            'gating:compensation-ref="uncompensated"'
            if scatter
            else 'gating:compensation-ref="FCS" gating:transformation-ref="logicle"'
        )
        lines += [
            f'  <gating:RectangleGate gating:id="{gate.gate_id}"{parent}>',
            f"    <data-type:custom_info><name>{escape(gate.path.rsplit('/', 1)[-1])}</name></data-type:custom_info>",
            f"    <gating:dimension {reference} {side}>",
            f'      <data-type:fcs-dimension data-type:name="{names[gate.marker]}" />',
            "    </gating:dimension>",
            "  </gating:RectangleGate>",
        ]
    return "\n".join([*lines, "</gating:Gating-ML>", ""])


def tube_events(
    panel: str, counts: dict[str, int], leukocytes: int, beads: int, rng: np.random.Generator
) -> np.ndarray:
    """Events (raw, as the cytometer writes them: un-compensated, linear) whose gating by
    `template_xml(panel)` gives `counts` (gate path -> events below Leukocytes; a gate not in it
    is its high sibling's complement, e.g. CAR-), `leukocytes` and `beads`. Siblings take distinct
    events where their counts allow (CD4+ and CD8+ CAR-T cells), as their subsets' markers would
    otherwise count an event in both."""
    gates = template_gates(panel)
    names = channels(panel)
    column = {marker or name: i for i, (name, marker) in enumerate(names)}
    high = np.zeros((leukocytes + beads, len(names)), dtype=bool)  # the side of each event, per marker
    high[:, column["FSC-A"]] = high[:, column["SSC-A"]] = True  # cells are large; granular unless gated low
    members: dict[str | None, np.ndarray] = {None: np.arange(leukocytes + beads)}
    for gate in gates:
        parent = members[gate.parent]
        if gate.parent is None:  # the beads first, then the leukocytes
            chosen = parent[:beads] if gate.path == "Beads" else parent[beads:]
        elif gate.path in counts:
            taken = [m for p, m in members.items() if p and p.rpartition("/")[0] == gate.parent]
            # parent is sorted and unique: masking it gives what np.setdiff1d did, in the same order
            is_free = ~np.isin(parent, np.concatenate(taken)) if taken else np.ones(len(parent), dtype=bool)
            free = parent[is_free]
            wanted = min(int(counts[gate.path]), len(parent))
            chosen = rng.choice(free, size=min(wanted, len(free)), replace=False)
            if wanted > len(free):
                chosen = np.concatenate([chosen, rng.choice(parent[~is_free], wanted - len(free), replace=False)])
        else:  # the complement of its high sibling on the same marker (CAR-)
            chosen = parent[~high[parent, column[gate.marker]]]
        high[chosen, column[gate.marker]] = gate.high
        members[gate.path] = np.sort(chosen)
    return _values(panel, high, rng)


def _values(panel: str, high: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Raw values on each side: scatter linear, fluorescence drawn on the logicle scale, then
    transformed back and spilled over as the detectors see it."""
    from flowutils import transforms

    names = channels(panel)
    values = np.where(high, rng.uniform(_CUT + 0.1, 0.9, high.shape), rng.uniform(0.1, _CUT - 0.1, high.shape))
    for i, (name, _) in enumerate(names[: len(_SCATTER)]):
        cut = _SCATTER_CUT[name]
        values[:, i] = np.where(
            high[:, i],
            rng.uniform(cut * 1.2, _SCATTER_MAX * 0.9, len(high)),
            rng.uniform(cut * 0.1, cut * 0.8, len(high)),
        )
    fluorescence = list(range(len(_SCATTER), len(names)))
    linear = transforms.logicle_inverse(
        values, fluorescence, t=LOGICLE["T"], m=LOGICLE["M"], w=LOGICLE["W"], a=LOGICLE["A"]
    )
    linear[:, fluorescence] = linear[:, fluorescence] @ spillover(panel)
    return linear.astype(np.float32)


def fcs_file(panel: str, events: np.ndarray, keywords: dict[str, str]) -> bytes:
    """An FCS 3.1 file of `events` (FlowIO), with the panel's channels, $SPILLOVER and `keywords`."""
    import flowio

    handle = io.BytesIO()
    names = channels(panel)
    # FlowIO copies anything but an array('f') into one value by value (1.5 s for the demo's five tubes):
    # the same singles, in the machine's order as FlowIO's copy has them, handed over as one block
    singles = array("f")
    singles.frombytes(events.astype(np.float32).tobytes())
    flowio.create_fcs(
        handle,
        singles,
        [n for n, _ in names],
        [m for _, m in names],
        metadata_dict={"SPILLOVER": spillover_keyword(panel), **keywords},
    )
    return handle.getvalue()


def tube_files(tubes: pd.DataFrame, rng: np.random.Generator) -> dict[str, bytes]:
    """Landed name (`landed`) -> content for every tube of `tubes` (the generator's rows, with the
    columns cytometry_export.statistics_table reads), as the cytometer wrote them on acquisition."""
    files = {}
    for (panel, kind), group in tubes.groupby(["panel", "panel_kind"], sort=True):
        counts = gate_counts(kind, group)
        paths = {g.key: g.path for g in PANELS[panel]}
        for position, (_, tube) in enumerate(group.iterrows()):
            by_path = {
                paths[key]: int(values[position])
                for key, values in counts.items()
                if key in paths and np.isfinite(values[position])  # no beads at a lab without them
            }
            beads = int(by_path.pop("Beads", 0))
            leukocytes = int(counts["leukocytes"][position])
            events = tube_events(panel, by_path, leukocytes, beads, rng)
            acquired = pd.Timestamp(tube["acquisition_date"])
            keywords = {"CYT": tube["instrument"], "DATE": acquired.strftime("%d-%b-%Y").upper(), "TUBE NAME": panel}
            files[tube["landed"]] = fcs_file(panel, events, keywords)
    return files

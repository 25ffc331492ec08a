"""Read an FCS file and gate it: what one worker does for one file version.

The TEXT segment's keywords are read with FlowIO (light; it also checks the HEADER's and TEXT's
offsets against the file, so a truncated or non-compliant file is refused here with FlowIO's
reason). When the file has a gating — its lab's FlowJo workspace (`.wsp`) or a reviewed
GatingML 2.0 template — FlowKit applies it as written: the compensation, the transforms and the
gate tree (FlowKit is imported only here, inside the worker: it takes seconds to import).

Gating is CPU-bound, so `analyse_all` runs a large batch of files in worker processes (spawned:
the parent holds a DuckDB connection and its threads, which must not be forked). A worker costs
seconds to start (a new interpreter importing FlowKit), so a batch of a few files, such as the
demo's five tubes, is gated in this process. Nothing here touches the warehouse: a worker gets a
path and returns keywords and counts.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

WORKSPACE, GATINGML = "workspace", "gatingml"
ROOT = "root"
# Gating takes both cores of the machine it was sized for, never more than the machine has.
WORKERS = max(1, min(2, os.cpu_count() or 1))
# Below this many bytes of FCS files a batch is gated in this process. Measured on the demo's five
# tubes (45 MB, 0.9 M events, 2 cores): 3.7 s in this process, FlowKit's import included, 7.5 s in
# two workers, whose start costs about 5 s; gating runs at about 16 MB/s per core, so two workers
# save their start beyond about 160 MB.
POOL_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Gating:
    """What a file is gated with: a FlowJo workspace or a GatingML 2.0 file, by path."""

    kind: str  # WORKSPACE | GATINGML
    path: str
    sha256: str


@dataclass(frozen=True)
class Job:
    path: str  # the private copy of the file version
    sample_id: str  # the file's name as landed: how a FlowJo workspace names its sample
    gating: Gating | None = None


@dataclass(frozen=True)
class GateCount:
    """One gate's events: `path` is the gate's names from the first gate below the root, joined
    by '/' (FlowJo's table-editor spelling: `Lymphocytes/CD3+`)."""

    path: str
    count: int
    parent_count: int
    total: int


@dataclass
class Analysis:
    keywords: dict[str, str] = field(default_factory=dict)  # FlowIO's spelling: lower case, no '$'
    version: str | None = None  # the HEADER's 'FCS3.1'
    events: int | None = None
    gates: list[GateCount] = field(default_factory=list)
    unreadable: str | None = None  # why FlowIO refused the file: nothing of it lands
    not_gated: str | None = None  # why its gating could not be applied: its keywords still land
    seconds: float = 0.0


def analyse(job: Job) -> Analysis:
    """Keywords and, with a gating, every gate's count; never raises for a bad file or gating."""
    import flowio

    started = time.perf_counter()
    result = Analysis()
    try:
        data = flowio.FlowData(job.path)
    except (flowio.exceptions.FlowIOException, ValueError, OSError) as error:
        result.unreadable = f"not a readable FCS file (FlowIO: {error})"
        result.seconds = time.perf_counter() - started
        return result
    result.keywords = {str(k): str(v) for k, v in data.text.items()}
    result.version, result.events = data.version, data.event_count
    if job.gating is not None:
        try:
            result.gates = gate(data, job.sample_id, job.gating)
        except Exception as error:  # noqa: BLE001 - FlowKit raises many kinds; the file's keywords still land
            result.not_gated = f"not gated with its {job.gating.kind}: {type(error).__name__}: {error}"
    result.seconds = time.perf_counter() - started
    return result


def gate(data, sample_id: str, gating: Gating) -> list[GateCount]:
    """Every gate's count in one file (FlowIO's FlowData), as FlowKit computes it."""
    import flowkit

    sample = flowkit.Sample(data, sample_id=sample_id)
    if gating.kind == WORKSPACE:
        workspace = flowkit.Workspace(gating.path, fcs_samples=[sample])
        if sample_id not in workspace.get_sample_ids():
            raise LookupError(f"the workspace has no sample named {sample_id!r}")
        # One file per worker: FlowKit's own pool would start processes inside ours.
        workspace.analyze_samples(sample_id=sample_id, cache_events=True, use_mp=False)
        report = workspace.get_gating_results(sample_id).report
        names = {}
    else:
        # cache_events: each dimension compensated and transformed once, not once per gate on it
        report = flowkit.parse_gating_xml(gating.path).gate_sample(sample, cache_events=True).report
        names = gatingml_names(gating.path)
    counts = {(tuple(r.gate_path), r.gate_name): int(r["count"]) for _, r in report.iterrows()}
    total = sample.event_count
    gates = []
    for (parent, gate_id), count in counts.items():
        above = counts.get((parent[:-1], parent[-1]), total) if len(parent) > 1 else total
        path = "/".join(names.get(g, g) for g in (*parent[1:], gate_id))
        gates.append(GateCount(path, count, above, total))
    return sorted(gates, key=lambda g: g.path)


def gatingml_names(path: str) -> dict[str, str]:
    """Gate id -> the gate's name, where a template gives one (`<data-type:custom_info><name>`):
    GatingML ids are XML names (no blanks, no '+'), a gate's name is how the lab writes it
    (`CD3+`). Elsewhere the id is the name."""
    from lxml import etree

    names = {}
    for element in etree.parse(path).iter(f"{{{_GATING}}}*"):
        gate_id = element.get(f"{{{_GATING}}}id")
        name = element.findtext(f"{{{_DATA_TYPE}}}custom_info/name")
        if gate_id and name and name.strip():
            names[gate_id] = name.strip()
    return names


_GATING = "http://www.isac-net.org/std/Gating-ML/v2.0/gating"
_DATA_TYPE = "http://www.isac-net.org/std/Gating-ML/v2.0/datatypes"


def analyse_all(jobs: list[Job], workers: int | None = None) -> list[Analysis]:
    """`analyse` for every job, in `workers` processes when there is more than one job (by default
    WORKERS when the files hold at least POOL_BYTES, else this process)."""
    workers = workers_for(jobs) if workers is None else workers
    if len(jobs) < 2 or workers < 2:
        return [analyse(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=get_context("spawn")) as pool:
        return list(pool.map(analyse, jobs))


def workers_for(jobs: list[Job]) -> int:
    """The processes `analyse_all` gates `jobs` in by default (POOL_BYTES)."""
    return WORKERS if sum(_size(job.path) for job in jobs) >= POOL_BYTES else 1


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:  # gone: `analyse` says why
        return 0

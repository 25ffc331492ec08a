"""`make bench`: time the whole nightly run on registries of growing size.

For each size a registry is generated into its own data folder; the newest acquisition batches,
about 1 % of the samples, are held back. The main job runs in a child process (as `make run`
would) twice: from nothing on the rest (the full build), then as the next night, when the
held-back batches land (the incremental night). Each run is measured for wall time and peak
memory (the child's maximum resident set size, from wait4, which covers dbt's process too);
stage times come from the run's own summary (ops.run_history.step_seconds). The floor for
ingestion is the fastest plain DuckDB load of the same bytes into tables of a DuckDB file: one
typed scan per header, the types declared (`load_floor`). Results: tables in the terminal, and
`benchmarks.csv`, `benchmarks.md` (with the machine described) and the curve `benchmarks.png`:
in docs/ for the full set of sizes, in the bench folder for a subset (BENCH_SIZES), so a quick
run never overwrites the committed full-size figures. BENCH_ENGINES=duckdb,spark runs every size on
each engine (CARTWH_ENGINE; Spark local[2], its dbt stage including the raw hand-over and the marts
taken back), the figures then in the bench folder too. Every lab writes canonical CSV here (the
registry's default mixes the lab dialects): the floor reads the same bytes with one plain
`read_csv` per header, which a semicolon or decimal-comma table would need options for, so the
cost of dialect detection is not in these figures. Ingestion is set against the floor per source
(REDCap, sample manifests, population statistics) as well as in all; the runs' CPU seconds (user
and system, of the run and of dbt's process) are reported beside their wall times, since a
shared machine stretches wall time but hardly CPU time.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from cartwh import settings
from expectations.suites import all_suites

DEFAULT_SIZES = (24, 1_000, 10_000, 100_000, 300_000)
# Ingestion's steps, by the source the floor reads for them (orchestration: assets/ingestion.py).
INGEST_STEPS = {
    "raw_redcap_dictionary": "redcap",
    "raw_redcap_records": "redcap",
    "raw_redcap_deletions": "redcap",
    "raw_cytometry_manifests": "manifests",
    "raw_cytometry_statistics": "population_stats",
}
SOURCES = {
    "redcap": "redcap/**/*.csv",
    "manifests": "cytometry/manifests/**/*.csv",
    "population_stats": "cytometry/statistics/**/*.csv",
}


@dataclass
class Result:
    engine: str  # what dbt built on: duckdb, or spark (cartwh.settings.engine)
    patients: int
    export_files: int
    export_mb: float
    raw_rows: int
    total_seconds: float
    cpu_seconds: float  # user + system, the run's and dbt's
    peak_rss_mb: float
    ingest_seconds: float
    dbt_seconds: float
    checks_seconds: float
    statistics_seconds: float
    report_seconds: float
    other_seconds: float  # process start, imports, publication: total minus the measured steps
    load_floor_seconds: float  # load_floor: one typed scan per header into tables
    floor_headers_as_text: int  # headers whose sniffed types failed on a later file: loaded as text
    ingest_rows_per_second: float
    ingest_vs_floor: float  # ingestion time / floor time: 2.0 means half of DuckDB's plain load throughput
    redcap_seconds: float  # each source's ingestion, its floor, and the one over the other
    redcap_floor_seconds: float
    redcap_vs_floor: float
    manifests_seconds: float
    manifests_floor_seconds: float
    manifests_vs_floor: float
    population_stats_seconds: float
    population_stats_floor_seconds: float
    population_stats_vs_floor: float
    status: str
    night_new_samples: int  # tubes in the held-back batches
    night_new_files: int
    night_seconds: float
    night_cpu_seconds: float
    night_peak_rss_mb: float
    night_ingest_seconds: float
    night_dbt_seconds: float
    night_checks_seconds: float
    night_statistics_seconds: float
    night_report_seconds: float
    night_other_seconds: float
    night_vs_full: float  # night seconds / full build seconds
    night_status: str


STAGES = ("ingest", "dbt", "checks", "statistics", "report", "other")


def measured(command: list[str], env: dict) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds (user + system, its children's included), peak RSS (MB) and exit
    status of a child process."""
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, child.returncode


def files_by_header(landing: Path, patterns: tuple[str, ...] = tuple(SOURCES.values())) -> dict[str, list[Path]]:
    """Every export (of the `patterns`), grouped by its header line: files sharing a header are one
    table's worth, loadable in one scan."""
    groups: dict[str, list[Path]] = {}
    for pattern in patterns:
        for path in sorted(landing.glob(pattern)):
            with open(path, encoding="utf-8-sig", newline="") as handle:
                groups.setdefault(handle.readline().rstrip("\r\n"), []).append(path)
    return groups


def declared_columns(con: duckdb.DuckDBPyConnection, files: list[Path]) -> dict[str, str]:
    """Column name -> type for one header's files, sniffed from the largest before the clock
    starts: the floor is a load whose types are known up front, as ingestion knows its contract."""
    largest = max(files, key=lambda p: p.stat().st_size)
    columns = con.execute("SELECT Columns FROM sniff_csv(?, sample_size = -1)", [str(largest)]).fetchall()[0][0]
    return {c["name"]: c["type"] for c in columns}


def _load(con: duckdb.DuckDBPyConnection, table: str, files: list[Path], columns: dict[str, str]) -> None:
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_csv(?, header = true, auto_detect = false, "
        "delim = ',', quote = '\"', escape = '\"', columns = ?)",
        [[str(p) for p in files], columns],
    )


def load_floor(landing: Path, scratch: Path, patterns: tuple[str, ...] = tuple(SOURCES.values())) -> tuple[float, int]:
    """The fastest plain DuckDB load of the exports (of `patterns`): for each header, one
    `read_csv` of all its files with the types declared (no sniffing, no union of differing
    headers) into a table of a DuckDB file, as ingestion writes one. What no ingestion can beat:
    it validates, keys and quarantines nothing. Returns (seconds, headers whose sniffed types did
    not hold in every file and were loaded as text instead)."""
    seconds, _, as_text = _floor(landing, scratch, patterns)
    return seconds, as_text


def floor_by_source(landing: Path, scratch: Path) -> dict[str, tuple[float, float]]:
    """Each source's floor (load_floor of its files): (wall seconds, CPU seconds)."""
    return {source: _floor(landing, scratch, (pattern,))[:2] for source, pattern in SOURCES.items()}


def _floor(landing: Path, scratch: Path, patterns: tuple[str, ...]) -> tuple[float, float, int]:
    scratch.unlink(missing_ok=True)
    con = duckdb.connect(str(scratch), config={"memory_limit": settings.duckdb_memory_limit()})
    try:
        groups = [(files, declared_columns(con, files)) for files in files_by_header(landing, patterns).values()]
        as_text, start, cpu = 0, time.perf_counter(), _cpu()
        for number, (files, columns) in enumerate(groups):
            try:
                _load(con, f"t{number}", files, columns)
            except duckdb.ConversionException:  # a later file breaks a sniffed type: text, which always holds
                _load(con, f"t{number}", files, dict.fromkeys(columns, "VARCHAR"))
                as_text += 1
        con.execute("CHECKPOINT")
        return time.perf_counter() - start, _cpu() - cpu, as_text
    finally:
        con.close()
        scratch.unlink(missing_ok=True)


def _cpu() -> float:
    """CPU seconds of this process so far, DuckDB's threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def stage_seconds(steps: dict[str, float]) -> dict[str, float]:
    """Seconds per stage from the step keys of a run (the publishing step is still running
    when the run summary is taken, so it is part of `other`), and ingestion's per source."""
    checks = {s.name for s in all_suites()}
    stages = dict(ingest=0.0, dbt=0.0, checks=0.0, statistics=0.0, report=0.0) | dict.fromkeys(SOURCES, 0.0)
    for step, seconds in steps.items():
        if step in INGEST_STEPS:
            stages["ingest"] += seconds
            stages[INGEST_STEPS[step]] += seconds
        elif step == "dbt_models":
            stages["dbt"] += seconds
        elif any(step.endswith("_" + name) for name in checks):
            stages["checks"] += seconds
        elif step == "study_statistics":
            stages["statistics"] += seconds
        elif step == "reports__study_report":
            stages["report"] += seconds
    return stages


def hold_back_newest(landing: Path, held: Path, share: float = 0.01) -> tuple[int, int]:
    """Move the newest acquisition batches (a site's month of one panel: its manifest and its
    statistics file), newest month first, out of the landing folder until they hold `share` of
    all tubes. Returns (tubes, files) held back."""
    manifests = sorted((landing / "cytometry" / "manifests").rglob("*.csv"), key=lambda p: p.name, reverse=True)
    tubes = {m: sum(1 for _ in open(m, encoding="utf-8")) - 1 for m in manifests}
    target, held_tubes, files = share * sum(tubes.values()), 0, 0
    for manifest in manifests:
        if held_tubes >= target:
            break
        inside = manifest.relative_to(landing / "cytometry" / "manifests")
        for kind in ("manifests", "statistics"):
            source = landing / "cytometry" / kind / inside
            if source.exists():
                (held / "cytometry" / kind / inside).parent.mkdir(parents=True, exist_ok=True)
                source.rename(held / "cytometry" / kind / inside)
                files += 1
        held_tubes += tubes[manifest]
    return held_tubes, files


def land(held: Path, landing: Path) -> None:
    """The held-back batches arrive: move them into the landing folder."""
    for path in sorted(held.rglob("*.csv")):
        target = landing / path.relative_to(held)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)


def night(cartwh: str, env: dict, data: Path) -> tuple[float, float, float, str, dict[str, float], int]:
    """Run the main job once: wall seconds, CPU seconds, peak MB, status, seconds per stage, raw
    rows loaded."""
    seconds, cpu, peak, status = measured([cartwh, "run"], env)
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        steps = json.loads(
            con.execute("SELECT step_seconds FROM ops.run_history ORDER BY started_at DESC LIMIT 1").fetchall()[0][0]
        )
        raw_rows = con.execute("SELECT sum(rows_loaded) FROM raw.landed_files").fetchall()[0][0]
    finally:
        con.close()
    stages = stage_seconds(steps)
    stages["other"] = seconds - sum(stages[s] for s in STAGES[:-1])
    return seconds, cpu, peak, "ok" if status == 0 else f"exit {status}", stages, int(raw_rows)


def run_size(patients: int, root: Path, engine: str = "duckdb") -> Result:
    data = root / f"registry_{patients}"
    env = {
        **os.environ,
        "CARTWH_DATA": str(data),
        "CARTWH_WAREHOUSE": str(data / "warehouse.duckdb"),
        "CARTWH_ENGINE": engine,
    }
    cartwh = str(Path(sys.executable).with_name("cartwh"))
    if not (data / "landing").exists():
        sites = max(1, min(20, patients // 5_000))
        subprocess.run(
            [
                cartwh,
                "generate",
                "--landing",
                str(data / "landing"),
                "--patients",
                str(patients),
                "--sites",
                str(sites),
                "--cytometry-dialect",
                "canonical",
                "--fcs-files",  # the tables' route; gating is timed on its own (gating_bench)
                "none",
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    held = data / "held_back"
    if held.exists():  # an interrupted benchmark: the whole registry lands again first
        land(held, data / "landing")
    for previous in data.iterdir():  # a full build from nothing: only the exports stay
        if previous.name != "landing":
            shutil.rmtree(previous) if previous.is_dir() else previous.unlink()
    new_samples, new_files = hold_back_newest(data / "landing", held)
    files = [p for p in (data / "landing").rglob("*.csv")]
    seconds, cpu, peak, status, stages, raw_rows = night(cartwh, env, data)
    floor, as_text = load_floor(data / "landing", data / "floor.duckdb")
    floors = floor_by_source(data / "landing", data / "floor.duckdb")
    land(held, data / "landing")
    n_seconds, n_cpu, n_peak, n_status, n_stages, _ = night(cartwh, env, data)
    per_source = [
        value
        for source in SOURCES
        for value in (round(stages[source], 1), round(floors[source][0], 2), _ratio(stages[source], floors[source][0]))
    ]
    return Result(
        engine,
        patients,
        len(files),
        round(sum(p.stat().st_size for p in files) / 1e6, 1),
        raw_rows,
        round(seconds, 1),
        round(cpu, 1),
        round(peak),
        *(round(stages[k], 1) for k in STAGES),
        round(floor, 2),
        as_text,
        round(raw_rows / stages["ingest"]) if stages["ingest"] else 0,
        _ratio(stages["ingest"], floor),
        *per_source,
        status,
        new_samples,
        new_files,
        round(n_seconds, 1),
        round(n_cpu, 1),
        round(n_peak),
        *(round(n_stages[k], 1) for k in STAGES),
        round(n_seconds / seconds, 2),
        n_status,
    )


def _ratio(seconds: float, floor: float) -> float:
    return round(seconds / floor, 1) if floor else 0.0


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(
        next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_kb / 1024**2:.0f} GB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, DuckDB {duckdb.__version__}"
    )


FULL_COLUMNS = {
    "engine": "engine",
    "patients": "patients",
    "export_files": "files",
    "export_mb": "MB",
    "raw_rows": "raw rows",
    "total_seconds": "total s",
    "cpu_seconds": "CPU s",
    "peak_rss_mb": "peak MB",
    "ingest_seconds": "ingest s",
    "dbt_seconds": "dbt s",
    "checks_seconds": "checks s",
    "statistics_seconds": "stats s",
    "report_seconds": "report s",
    "other_seconds": "other s",
    "load_floor_seconds": "floor s",
    "floor_headers_as_text": "as text",
    "ingest_rows_per_second": "rows/s",
    "ingest_vs_floor": "ingest/floor",
    "status": "status",
}
_SOURCE_LABELS = {"redcap": "REDCap", "manifests": "manifests", "population_stats": "stats tables"}
SOURCE_COLUMNS = {
    "patients": "patients",
    **{
        f"{source}_{kind}": f"{label} {unit}"
        for source, label in _SOURCE_LABELS.items()
        for kind, unit in (("seconds", "s"), ("floor_seconds", "floor s"), ("vs_floor", "/floor"))
    },
    "ingest_seconds": "ingest s",
    "load_floor_seconds": "floor s",
    "ingest_vs_floor": "ingest/floor",
}
NIGHT_COLUMNS = {
    "engine": "engine",
    "patients": "patients",
    "night_new_samples": "new samples",
    "night_new_files": "new files",
    "night_seconds": "total s",
    "night_cpu_seconds": "CPU s",
    "night_peak_rss_mb": "peak MB",
    "night_ingest_seconds": "ingest s",
    "night_dbt_seconds": "dbt s",
    "night_checks_seconds": "checks s",
    "night_statistics_seconds": "stats s",
    "night_report_seconds": "report s",
    "night_other_seconds": "other s",
    "night_vs_full": "of full build",
    "night_status": "status",
}


def table(results: list[Result], columns: dict[str, str] = FULL_COLUMNS) -> str:
    rows = [[f"{v:,}" if isinstance(v, int) else str(v) for v in (getattr(r, c) for c in columns)] for r in results]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(columns.values())]
    line = lambda cells: "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(columns.values()), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def plot_curve(results: list[Result], path: Path) -> Path:
    """Seconds per stage and in total against patients, log-log, with a linear reference: a
    stage parallel to the reference grows linearly, a steeper one worse than linearly."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    engines = list(dict.fromkeys(r.engine for r in results))
    for engine in engines:
        of_engine = [r for r in results if r.engine == engine]
        for field, label in (
            ("total_seconds", "total"),
            ("ingest_seconds", "ingest"),
            ("dbt_seconds", "dbt"),
            ("checks_seconds", "checks"),
            ("report_seconds", "report"),
            ("night_seconds", "incremental night (1 % new samples)"),
        ):
            ax.plot(
                [r.patients for r in of_engine],
                [getattr(r, field) for r in of_engine],
                marker="o" if engine == engines[0] else "s",
                ls="-" if engine == engines[0] else "--",
                lw=2 if label == "total" else 1,
                label=label if len(engines) == 1 else f"{label} ({engine})",
            )
    results = [r for r in results if r.engine == engines[0]]
    patients = [r.patients for r in results]
    last = results[-1]  # the small sizes are fixed costs: anchor the slope-1 line at the largest
    ax.plot(
        patients,
        [last.total_seconds * p / last.patients for p in patients],
        ls=":",
        color="grey",
        label="linear growth (slope 1) through the largest",
    )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="patients in the registry",
        ylabel="seconds",
        title="Nightly run: time against registry size",
    )
    ax.legend(frameon=False, fontsize=8)
    fig.savefig(path, dpi=150)
    return path


def write_results(results: list[Result], gating: Gating, docs: Path) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    with open(docs / "benchmarks.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(results[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in results)
    (docs / "benchmarks.md").write_text(
        "# Benchmarks\n\nGenerated by `make bench` (`bench/benchmark.py`); the analysis is in `docs/scaling.md`.\n\n"
        f"Machine: {machine()}.\n\n## Full build: the registry from nothing (all but the newest 1 % of samples)\n\n"
        f"{table(results)}\n\n![time against registry size]({plot_curve(results, docs / 'benchmarks.png').name})\n\n"
        "Total: the whole main job in a child process (ingest, dbt build with its tests, checks, statistics, "
        "reports, publish), wall time; peak MB: the maximum resident memory of the run and of dbt's process; "
        "stage seconds from `ops.run_history` (other: process start, imports and publication); floor: the "
        "fastest plain DuckDB load of the same files into tables of a DuckDB file (one scan per header, types "
        "declared; `load_floor`), what no ingestion can beat; as text: headers whose sniffed types failed on a later "
        "file, loaded as text instead; ingest/floor: how many times slower ingestion is "
        "than that floor; CPU s: user and system seconds of the run and of dbt's process.\n\n"
        "## Ingestion against the floor, per source\n\n"
        f"{table(results, SOURCE_COLUMNS)}\n\nEach source's ingestion steps (REDCap: its dictionary, records and "
        "deletion reports) against the floor of its own files.\n\n## Incremental night: the newest 1 % of samples land\n\n"
        f"{table(results, NIGHT_COLUMNS)}\n\nThe next night's run on the same warehouse after the held-back "
        "acquisition batches (newest months first, about 1 % of all tubes) land; of full build: its time as a "
        "share of the full build's.\n\n## Gating FCS files\n\n"
        f"{gating_table(gating)}\n\nThe demo's FCS files (one tube of each panel at its full event count, "
        "`cartwh generate --fcs-files sample`) gated with the shipped GatingML templates (compensation, logicle, "
        "the gate tree) by FlowKit in the processes a night uses (`cartwh.ingest.fcs_gating.analyse_all`: this "
        "process below `POOL_BYTES` of files, else a pool of workers), wall time including FlowKit's import "
        "(and the pool's start); a rerun gates nothing.\n",
        encoding="utf-8",
    )


@dataclass
class Gating:
    files: int
    events: int
    mb: float
    workers: int
    seconds: float  # wall time of the night's gating: the worker pool's start and FlowKit's import included
    files_per_second: float
    events_per_second: float


def gating_bench(root: Path) -> Gating:
    """Gate the demo's FCS files (one tube of each panel, at full event counts, cartwh.generate
    `fcs_files="sample"`) with the shipped templates, in the processes a night uses
    (cartwh.ingest.fcs_gating.analyse_all), as a night that lands them would."""
    import pandas as pd

    from cartwh.generate import generate_landing
    from cartwh.ingest.fcs_gating import GATINGML, Job, analyse_all, workers_for
    from cartwh.ingest.fcs_gating import Gating as Template
    from cartwh.ingest.fcs_loader import SHIPPED_TEMPLATES

    landing = root / "gating" / "landing"
    if not landing.exists():
        generate_landing(landing, fcs_files="sample")
    manifests = pd.concat(pd.read_csv(p, dtype=str) for p in sorted(landing.glob("cytometry/manifests/**/*.csv")))
    panel = dict(zip(manifests["fcs_file"], manifests["panel"], strict=True))
    files = sorted(landing.glob("cytometry/fcs/**/*.fcs"))
    jobs = [Job(str(f), f.name, Template(GATINGML, str(SHIPPED_TEMPLATES / f"{panel[f.name]}.xml"), "")) for f in files]
    start = time.perf_counter()
    analyses = analyse_all(jobs)
    seconds = time.perf_counter() - start
    events = sum(a.events or 0 for a in analyses)
    return Gating(
        len(files),
        events,
        round(sum(f.stat().st_size for f in files) / 1e6, 1),
        workers_for(jobs),
        round(seconds, 1),
        round(len(files) / seconds, 2),
        round(events / seconds),
    )


def gating_table(gating: Gating) -> str:
    columns = {
        "files": "FCS files",
        "events": "events",
        "mb": "MB",
        "workers": "processes",
        "seconds": "s",
        "files_per_second": "files/s",
        "events_per_second": "events/s",
    }
    values = asdict(gating)
    return "\n".join(
        [
            "| " + " | ".join(columns.values()) + " |",
            "|" + "---|" * len(columns),
            "| " + " | ".join(f"{values[c]:,}" for c in columns) + " |",
        ]
    )


def main() -> int:
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", ",".join(map(str, DEFAULT_SIZES))).split(",") if s]
    engines = tuple(os.environ.get("BENCH_ENGINES", "duckdb").split(","))
    root = Path(os.environ.get("BENCH_DIR", settings.data_dir() / "bench"))
    results = []
    for patients in sizes:
        for engine in engines:
            results.append(run_size(patients, root, engine))
            print(table(results), table(results, SOURCE_COLUMNS), table(results, NIGHT_COLUMNS), sep="\n\n", flush=True)
    gating = gating_bench(root)
    print(gating_table(gating), flush=True)
    # The committed figures are the full set of sizes on DuckDB; any other set goes beside its registries.
    out = settings.PROJECT_ROOT / "docs" if tuple(sizes) == DEFAULT_SIZES and engines == ("duckdb",) else root
    if results:
        write_results(results, gating, out)
    print(f"tables: {out / 'benchmarks.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Synthetic landing folders in exactly the export formats of docs/data-contract.md.

`generate_landing()` with no patient count writes the paper's 24-patient cohort; with
`patients=N, sites=S` a registry of the same shape. Deterministic for a given seed.

The demo's laboratory exports an absolute count column besides its bead counts; a registry's
laboratories write FlowJo's tables as they are, without one (`exported_absolute_counts` sets either),
so their cells/uL are computed in dbt from the beads (docs/definitions.md "Absolute counts"), or,
at every third site, whose lab has no counting beads, from the same day's blood count (dual platform).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.generate import (
    absolute_counts,
    cytometry_export,
    fcs_export,
    lab_dialects,
    paper_cohort,
    redcap_export,
    redcap_longitudinal,
    registry,
)
from cartwh.generate.faults import Fault, inject_faults, truncate_file
from cartwh.generate.timeline import realize
from cartwh.synthetic import mark_landing

__all__ = ["DEFAULT_SEED", "FCS_MODES", "REDCAP_LAYOUTS", "LandingSummary", "generate_landing"]

DEFAULT_SEED = 20251125
REDCAP_DIR = "redcap"
STATISTICS_DIR = "cytometry/statistics"
MANIFEST_DIR = "cytometry/manifests"
FCS_DIR = "cytometry/fcs"
# Which tubes are also written as FCS files: none; one per panel (the demo's default, beside the
# tables, so a night gates them and cross-checks the tables); or all, instead of the tables.
FCS_MODES = ("none", "sample", "all")
LATE_EXPORT_SHARE = 0.03
REDCAP_LAYOUTS = (
    "classic",
    "longitudinal",
    "mixed",
)  # registry records whose follow-up reached the EDC after the main export


@dataclass
class LandingSummary:
    landing: Path
    patients: int
    sites: int
    files: int
    redcap_rows: int
    samples: int
    faults: list[Fault] = field(default_factory=list)
    # The truth behind the cytometry exports, one row per tube: site, exported record_id, fcs_file,
    # date, panel_kind, events (leukocytes acquired), wbc and car (true leukocytes and CAR-T per uL).
    tubes: pd.DataFrame | None = None


def _redcap_files(
    records: pd.DataFrame, cutoff: str, late_share: float, rng: np.random.Generator, site_folders: bool
) -> dict[str, pd.DataFrame]:
    """One export per site a month before the cut-off; with `late_share`, that share of records
    (at least one per site) arrives again in a late export whose newer version supersedes. With
    `site_folders`, each site's project exports into a folder of its own (redcap/<SITE>/)."""
    files = {}
    day = pd.Timestamp(cutoff)
    for dag, rows in records.groupby("redcap_data_access_group", sort=True):
        ids = rows["record_id"].unique()
        count = max(1, round(late_share * len(ids))) if late_share else 0
        late = set(rng.choice(ids, count, replace=False))
        in_late = rows["record_id"].isin(late)
        events = rows["redcap_repeat_instrument"].isin(["follow_up_event"])
        main = rows[~(in_late & events)].copy()
        stale = main["record_id"].isin(late) & main["redcap_repeat_instrument"].isna()
        earlier = pd.to_datetime(main.loc[stale, "last_contact_date"]) - pd.Timedelta(days=60)
        main.loc[stale, "last_contact_date"] = earlier.dt.strftime("%Y-%m-%d")
        main.loc[stale, "vital_status"] = "1"
        folder = f"{REDCAP_DIR}/{dag.upper()}" if site_folders else REDCAP_DIR
        files[f"{folder}/cart_monitoring_{dag}_{(day - pd.Timedelta(days=30)):%Y%m%d}.csv"] = main
        if late:
            late_rows = rows[in_late & (events | rows["redcap_repeat_instrument"].isna())]
            files[f"{folder}/cart_monitoring_{dag}_{day:%Y%m%d}.csv"] = late_rows
    return files


def _fcs_tubes(samples: pd.DataFrame, mode: str) -> pd.DataFrame:
    """The tubes written as FCS files (FCS_MODES), each with its landed name below cytometry/fcs/:
    the site's folder, the acquisition batch's, then the file's name."""
    chosen = {
        "none": samples.iloc[:0],
        "sample": samples.sort_values(["events", "fcs_file"]).groupby("panel", sort=True).head(1),
        "all": samples,
    }[mode]
    return chosen.assign(landed=FCS_DIR + "/" + chosen["batch"] + "/" + chosen["fcs_file"])


def _lab_dialects(files: dict, sites: pd.Series, chosen: str | None, registry: bool) -> dict[str, str]:
    """The dialect each statistics file is written in: `chosen` for all, else canonical for the
    demo and, in a registry, each site's lab one of lab_dialects.DIALECTS in turn."""
    order = {site: i for i, site in enumerate(sorted(sites.unique()))}
    dialects = {}
    for name in files:
        if name.startswith(STATISTICS_DIR + "/"):
            site = name[len(STATISTICS_DIR) + 1 :].split("/")[0]
            turn = lab_dialects.DIALECTS[order.get(site, 0) % len(lab_dialects.DIALECTS)]
            dialects[name] = chosen or (turn if registry else "canonical")
    return dialects


def _relayout(files: dict[str, pd.DataFrame], dictionary, layout: str) -> dict[str, str]:
    """Re-lay the REDCap exports of the longitudinal sites in place; return their metadata files."""
    folders = sorted({name.rsplit("/", 1)[0] for name in files if name.startswith(REDCAP_DIR + "/")})
    longitudinal = [f for i, f in enumerate(folders) if layout == "longitudinal" or (layout == "mixed" and i % 2 == 1)]
    texts = {}
    for folder in longitudinal:
        for name in [n for n in files if n.rsplit("/", 1)[0] == folder]:
            files[name] = redcap_longitudinal.site_records(files[name], dictionary)
        texts |= {f"{folder}/{name}": text for name, text in redcap_longitudinal.site_project(dictionary).items()}
    return texts


def generate_landing(
    landing: Path,
    patients: int | None = None,
    sites: int = 1,
    seed: int = DEFAULT_SEED,
    faults: bool = False,
    progress: bool = False,
    exported_absolute_counts: bool | None = None,
    cytometry_dialect: str | None = None,
    redcap_layout: str = "classic",
    fcs_files: str = "sample",
    events_scale: float = 1.0,
) -> LandingSummary:
    """`cytometry_dialect`: how the lab writes its statistics (generate.lab_dialects); by default
    the demo's lab writes canonical CSV and a registry's sites take the dialects in turn. Faults
    are injected into canonical exports (their log counts rows as the canonical file has them).
    `redcap_layout`: "classic" (the shipped project), "longitudinal" (each site's own project,
    cartwh.generate.redcap_longitudinal) or "mixed" (a registry's sites alternate, the first classic).
    `fcs_files` (FCS_MODES): the tubes written as FCS files (cartwh.generate.fcs_export), gated by
    the shipped GatingML templates to the same counts as the tables; `events_scale`: the share of
    each tube's events acquired (FCS files of every tube stay small at 0.01)."""
    if fcs_files not in FCS_MODES:
        raise ValueError(f"unknown FCS mode {fcs_files!r} (one of {', '.join(FCS_MODES)})")
    if redcap_layout not in REDCAP_LAYOUTS:
        raise ValueError(f"unknown REDCap layout {redcap_layout!r} (one of {', '.join(REDCAP_LAYOUTS)})")
    if cytometry_dialect not in (None, *lab_dialects.DIALECTS):
        raise ValueError(f"unknown cytometry dialect {cytometry_dialect!r} (one of {', '.join(lab_dialects.DIALECTS)})")
    if faults and redcap_layout != "classic":
        raise ValueError("the generator's faults are written for the classic REDCap layout only")
    rng = np.random.default_rng(seed)
    # Blood counts draw from a stream of their own, so adding them left every other value as it was.
    blood_count_rng = np.random.default_rng([seed, 14])
    exported = patients is None if exported_absolute_counts is None else exported_absolute_counts
    say = tqdm.write if progress else (lambda message: None)
    if patients is None:
        design, cutoff = paper_cohort.paper_design(), paper_cohort.DATA_CUTOFF
    else:
        design, cutoff = registry.registry_design(patients, sites, rng), registry.DATA_CUTOFF
    say(f"drawing timelines and samples of {len(design):,} patients")
    cohort = realize(design, rng, cutoff)
    dual_platform = absolute_counts.dual_platform_sites(design["site"]) if patients is not None else set()
    labs = absolute_counts.add_dual_platform_days(cohort.repeating["laboratory"], cohort.samples, dual_platform)
    cohort.repeating["laboratory"] = absolute_counts.add_blood_counts(labs, cohort.samples, blood_count_rng)
    dictionary = project_dictionary()
    say("laying out the REDCap record export")
    records = redcap_export.export_records(cohort, dictionary)
    # A registry's sites number their records from 1 each (one REDCap project per site, in a folder
    # of its own); the demo is one site, numbered 1..24.
    exported_id = dict(zip(design["record_id"], design.get("site_record_id", design["record_id"]), strict=True))
    records["record_id"] = records["record_id"].map(exported_id)
    files = _redcap_files(
        records, cutoff, LATE_EXPORT_SHARE if patients else 0.0, rng, site_folders=patients is not None
    )
    acquired = np.maximum(1, np.round(cohort.samples["events"] * events_scale)).astype(int)
    samples = absolute_counts.add_beads(
        cytometry_export.assign_batches(cohort.samples.assign(events=acquired), rng), dual_platform
    )
    batches = samples.groupby(["batch", "panel"], sort=True)
    for (batch, panel), tubes in tqdm(batches, desc="cytometry batches", unit="batch", disable=not progress):
        if fcs_files != "all":
            files[f"{STATISTICS_DIR}/{batch}.csv"] = cytometry_export.statistics_table(panel, tubes, exported)
        # a registry's LIMS writes the bead lot and volume; the bead_lots seed knows the lot's count
        files[f"{MANIFEST_DIR}/{batch}.csv"] = cytometry_export.manifest_table(
            tubes, bead_counts=patients is None
        ).assign(record_id=lambda m: m["record_id"].map(exported_id))

    texts = _relayout(files, dictionary, redcap_layout)
    injected: list[Fault] = []
    if faults:
        files, injected = inject_faults(files, rng)
    landing = Path(landing)
    dialects = {} if faults else _lab_dialects(files, design["site"], cytometry_dialect, registry=patients is not None)
    for name, frame in tqdm(sorted(files.items()), desc="writing exports", unit="file", disable=not progress):
        path = landing / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if dialects.get(name, "canonical") != "canonical":
            path.with_suffix(lab_dialects.suffix(dialects[name])).write_bytes(
                lab_dialects.render(frame, dialects[name])
            )
        else:
            frame.to_csv(path, index=False, lineterminator="\n")
    for name, text in sorted(texts.items()):
        (landing / name).parent.mkdir(parents=True, exist_ok=True)
        (landing / name).write_text(text, encoding="utf-8")
    fcs = fcs_export.tube_files(_fcs_tubes(samples, fcs_files), np.random.default_rng([seed, 23]))
    for name, content in fcs.items():
        (landing / name).parent.mkdir(parents=True, exist_ok=True)
        (landing / name).write_bytes(content)
    if faults:
        injected += truncate_file(landing, sorted(n for n in files if n.startswith(STATISTICS_DIR))[-1])
    kind = "the paper's demo cohort" if patients is None else f"a synthetic registry of {len(design):,} patients"
    mark_landing(landing, f"{kind}, seed {seed}")
    truth = samples[["site", "record_id", "fcs_file", "date", "panel_kind", "events", "wbc", "car"]].assign(
        record_id=lambda t: t["record_id"].map(exported_id)
    )
    return LandingSummary(
        landing,
        len(design),
        design["site"].nunique(),
        len(files) + len(fcs),
        len(records),
        len(samples),
        injected,
        truth.reset_index(drop=True),
    )

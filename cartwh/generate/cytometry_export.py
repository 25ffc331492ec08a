"""Write cytometry exports: population statistics tables (FlowJo/Infinicyt style) and the
sample manifest, one pair of files per acquisition batch (site x month x panel)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwh.contract.cytometry import (
    ABSOLUTE,
    COUNT,
    FREQ_PARENT,
    FREQ_TOTAL,
    HEADER_SEPARATOR,
    PANEL_V2_FROM,
    PANELS,
    SAMPLE_COLUMN,
    SUMMARY_ROWS,
    Gate,
)

_TUBE = {"DETECT": "T1", "MEMORY": "T2", "LEUKAPHERESIS": "LK"}
_INSTRUMENT_SWITCH = np.datetime64("2023-01-01")  # the lab moved from the Canto II to the Lyric


def assign_batches(samples: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Panel version, instrument, acquisition date, FCS file name and batch of every tube."""
    s = samples.copy()
    collected = s["date"].to_numpy().astype("datetime64[D]")
    acquired = collected + (rng.random(len(s)) < 0.2).astype("timedelta64[D]")
    v2 = acquired >= np.datetime64(PANEL_V2_FROM)
    s["panel"] = np.where(
        s["panel_kind"] == "LEUKAPHERESIS",
        "LEUKAPHERESIS-v1",
        "CART-" + s["panel_kind"] + np.where(v2, "-v2", "-v1"),
    )
    s["instrument"] = np.where(acquired < _INSTRUMENT_SWITCH, "BD FACSCanto II", "BD FACSLyric")
    s["acquisition_date"] = acquired
    draw = s.groupby(["patient", "date"], sort=False).ngroup().to_numpy()  # one accession per blood draw
    s["fcs_file"] = [f"A{d + 1:07d}_{_TUBE[k]}.fcs" for d, k in zip(draw, s["panel_kind"], strict=True)]
    month = pd.to_datetime(acquired).strftime("%Y-%m")
    s["batch"] = s["site"] + "/" + month + "_" + s["panel"]
    return s


def gate_counts(kind: str, s: pd.DataFrame) -> dict[str, np.ndarray]:
    """Events per gate key: concentrations (cells/uL) scaled to the acquired leukocytes."""
    events = s["events"].to_numpy(dtype=float)
    per_leukocyte = events / s["wbc"].to_numpy()
    if kind == "LEUKAPHERESIS":
        c = {"leukocytes": events}
        of = lambda parent, pct: np.round(parent * s[pct].to_numpy() / 100)  # noqa: E731
        c["monocytes"] = of(events, "monocytes_pct")
        # Subsets never add up to more than their parent, whatever the drawn percentages (a few
        # draws in 100,000 patients exceeded 100 % and exported negative non-classical counts).
        c["mono_classical"] = np.minimum(of(c["monocytes"], "mono_classical_pct"), c["monocytes"])
        c["mono_intermediate"] = np.minimum(
            of(c["monocytes"], "mono_intermediate_pct"), c["monocytes"] - c["mono_classical"]
        )
        c["mono_nonclassical"] = c["monocytes"] - c["mono_classical"] - c["mono_intermediate"]
        for key in ("pdc", "mdc", "lymphoblasts", "lymphocytes"):
            c[key] = of(events, f"{key}_pct")
        c["cd3"] = of(c["lymphocytes"], "lk_cd3_pct")
        c["cd8"] = of(c["cd3"], "lk_cd8_pct")
        c["cd8_scm_like"] = of(c["cd8"], "lk_cd8_scm_like_pct")
        return c
    car = s["car"].to_numpy()
    car_cd4 = car * s["car_cd4_frac"].to_numpy()
    c = {
        "leukocytes": events,
        "lymphocytes": s["lymph"].to_numpy() * per_leukocyte,
        "cd3": s["cd3"].to_numpy() * per_leukocyte,
        "car": car * per_leukocyte,
        "car_cd4": car_cd4 * per_leukocyte,
        "car_cd8": (car - car_cd4) * 0.95 * per_leukocyte,
        "carneg_cd8": (s["cd3"].to_numpy() - car) * s["carneg_cd8_frac"].to_numpy() * per_leukocyte,
        "bcells": s["bcells"].to_numpy() * per_leukocyte,
        "beads": s["bead_events"].to_numpy(dtype=float),  # already whole events (generate.absolute_counts)
    }
    c = {k: np.round(v) for k, v in c.items()}
    c["carneg"] = c["cd3"] - c["car"]  # the CAR- gate: CD3+ events outside CAR+, no column of its own
    for column in s.columns:
        for parent in ("car_cd8", "carneg_cd8", "car_cd4"):
            if column.startswith(parent + "_") and column[len(parent) + 1 :] in _PHENOTYPE_KEYS:
                c[column] = np.round(c[parent] * s[column].to_numpy() / 100)
    return c


_PHENOTYPE_KEYS = {"naive", "scm", "cm", "em", "temra", "pd1", "lag3", "ki67", "cd71"}


_UNLISTED = {"CAR-": "carneg"}  # gates the tables have no column of, by name: their counts' keys


def _parent(gate: Gate, gates: tuple[Gate, ...]) -> str | None:
    """The key of the gate's parent's count; None for a gate of all events (Leukocytes, Beads)."""
    parent_path = gate.path.rpartition("/")[0]
    listed = next((g.key for g in gates if g.path == parent_path), None)
    return listed or (_UNLISTED.get(parent_path.rsplit("/", 1)[-1], "leukocytes") if parent_path else None)


def statistics_table(panel: str, s: pd.DataFrame, exported_absolute: bool = True) -> pd.DataFrame:
    """One row per FCS file, one column per '<gate path> | <statistic>', then Mean and SD. Without
    `exported_absolute`, no absolute count column, as FlowJo writes (its tables have no such statistic)."""
    gates = PANELS[panel]
    if "bead_events" in s and s["bead_events"].isna().all():  # a laboratory without counting beads
        gates = tuple(g for g in gates if g.key != "beads")
    counts = gate_counts(s["panel_kind"].iloc[0], s)
    wbc, events = s["wbc"].to_numpy(), s["events"].to_numpy(dtype=float)
    # What the cytometer acquired, as FlowJo's Freq. of Total divides by: the leukocytes and the beads.
    acquired = events + np.nan_to_num(counts.get("beads", np.zeros_like(events)))
    columns = {SAMPLE_COLUMN: s["fcs_file"].to_numpy()}
    for gate in gates:
        count = counts[gate.key]
        parent = counts[_parent(gate, gates)] if _parent(gate, gates) else acquired
        values = {
            COUNT: count,
            FREQ_PARENT: np.round(np.divide(count * 100, parent, out=np.zeros_like(count), where=parent > 0), 3),
            FREQ_TOTAL: np.round(count * 100 / acquired, 4),
            ABSOLUTE: np.round(count * wbc / events, 3),
        }
        for statistic in (st for st in gate.statistics if exported_absolute or st != ABSOLUTE):
            columns[f"{gate.path}{HEADER_SEPARATOR}{statistic}"] = values[statistic]
    table = pd.DataFrame(columns)
    numeric = table.drop(columns=SAMPLE_COLUMN)
    summary = pd.DataFrame([numeric.mean().round(3), numeric.std().round(3)])
    summary.insert(0, SAMPLE_COLUMN, list(SUMMARY_ROWS))
    counts = [c for c in table.columns if c.endswith(COUNT)]
    table[counts] = table[counts].astype("int64").astype(object)  # events print as integers
    return pd.concat([table, summary], ignore_index=True)


def manifest_table(s: pd.DataFrame, bead_counts: bool = True) -> pd.DataFrame:
    """The LIMS worklist. Without `bead_counts`, the bead lot and volume only: the bead_lots seed
    gives the lot's beads per tube. A laboratory without counting beads (no tube of the batch has a
    lot) writes no bead column."""
    beads = {}
    if s["bead_lot"].notna().any():
        beads["bead_lot"] = s["bead_lot"]
        if bead_counts:
            beads["beads_per_tube"] = s["beads_per_tube"].astype("Int64")
        beads["sample_volume_ul"] = s["sample_volume_ul"]
    return pd.DataFrame(
        {
            "fcs_file": s["fcs_file"],
            "record_id": s["record_id"],
            "specimen": s["specimen"],
            "collection_date": pd.to_datetime(s["date"]).dt.strftime("%Y-%m-%d"),
            "timepoint": s["timepoint"],
            "instrument": s["instrument"],
            "panel": s["panel"],
            "acquisition_date": pd.to_datetime(s["acquisition_date"]).dt.strftime("%Y-%m-%d"),
            **beads,
        }
    ).reset_index(drop=True)

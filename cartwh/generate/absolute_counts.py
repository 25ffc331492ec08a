"""What a laboratory measures to count cells per uL (docs/definitions.md "Absolute counts"): counting
beads in the CAR-T detection and memory tubes, and the blood count (WBC, ALC) in the EDC's
laboratory form.

The beads are consistent with each tube's true leukocytes/uL: a tube of `sample_volume_ul` uL of
blood holds `beads_per_tube` beads, and the cytometer acquires a share of the tube, counting
events = true cells/uL x acquired uL for every population and beads = beads per tube x acquired uL
/ sample volume, each rounded to whole events, so cell events / bead events x beads per tube /
volume gives back the true cells/uL up to that rounding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Bead lot per acquisition year: the demo laboratory's lots, the same as the bead_lots seed
# (tests/unit/generate/test_generate_absolute_counts.py pins them).
BEAD_LOTS = {
    "TC2018": 50318,
    "TC2019": 49655,
    "TC2020": 49872,
    "TC2021": 50125,
    "TC2022": 51230,
    "TC2023": 50642,
    "TC2024": 49310,
    "TC2025": 50977,
    "TC2026": 51488,
    "TC2027": 50204,
}
# Blood per bead tube: the lyse-no-wash protocol's 50 uL, or a bulk lysis of more blood when the
# leukocytes are so few that the acquired events need more (at most 80 % of a tube is acquired).
SAMPLE_VOLUMES_UL = np.array([50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0])
_MAX_ACQUIRED_SHARE = 0.8
_BEAD_PANELS = ("DETECT", "MEMORY")  # the leukapheresis product is not counted per uL


DUAL_PLATFORM_EVERY = 3  # a registry's sites S003, S006, ... count without beads


def dual_platform_sites(sites: pd.Series) -> set[str]:
    """The sites whose laboratory has no counting beads: every DUAL_PLATFORM_EVERY-th, in order."""
    ordered = sorted(sites.unique())
    return {site for i, site in enumerate(ordered, start=1) if i % DUAL_PLATFORM_EVERY == 0}


def add_beads(samples: pd.DataFrame, dual_platform: set[str] = frozenset()) -> pd.DataFrame:
    """Bead lot, beads per tube, volume and bead events of each detection and memory tube
    (NaN / None for the leukapheresis tubes and every tube of a `dual_platform` site). `samples`
    holds `site`, `events` (leukocytes acquired), `wbc` (true leukocytes/uL) and `acquisition_date`."""
    s = samples.copy()
    counted = s["panel_kind"].isin(_BEAD_PANELS).to_numpy()
    if dual_platform:
        counted &= ~s["site"].isin(dual_platform).to_numpy()
    lot = "TC" + pd.to_datetime(s["acquisition_date"]).dt.year.astype(str)
    acquired_ul = s["events"].to_numpy(dtype=float) / s["wbc"].to_numpy(dtype=float)
    beads = lot.map(BEAD_LOTS).to_numpy(dtype=float)
    need = np.minimum(acquired_ul / _MAX_ACQUIRED_SHARE, SAMPLE_VOLUMES_UL[-1])
    volume = SAMPLE_VOLUMES_UL[np.searchsorted(SAMPLE_VOLUMES_UL, need)]
    s["bead_lot"] = np.where(counted, lot, None)
    s["beads_per_tube"] = np.where(counted, beads, np.nan)
    s["sample_volume_ul"] = np.where(counted, volume, np.nan)
    s["bead_events"] = np.where(counted, np.round(beads * acquired_ul / volume), np.nan)
    return s


def add_blood_counts(labs: pd.DataFrame, samples: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The laboratory rows with WBC and ALC (value + unit code): on the day of a detection tube, the
    tube's true leukocytes and lymphocytes per uL (as x10^9/L, to the analyser's 0.01); on other days
    a plausible post-lymphodepletion count. A third are exported in cells/uL (staging converts)."""
    detect = samples[samples["panel_kind"] == "DETECT"]
    same_day = detect.drop_duplicates(["record_id", "date"]).set_index(["record_id", "date"])
    key = pd.MultiIndex.from_arrays([labs["record_id"], pd.to_datetime(labs["lab_date"])])
    same_day.index = pd.MultiIndex.from_arrays(
        [same_day.index.get_level_values(0), pd.to_datetime(same_day.index.get_level_values(1))]
    )
    n = len(labs)
    wbc = same_day["wbc"].reindex(key).to_numpy(dtype=float) / 1000
    alc = same_day["lymph"].reindex(key).to_numpy(dtype=float) / 1000
    drawn_wbc = rng.uniform(0.3, 9.0, n)
    wbc, alc = (
        np.where(np.isnan(wbc), drawn_wbc, wbc),
        np.where(np.isnan(alc), drawn_wbc * rng.uniform(0.1, 0.45, n), alc),
    )
    out = labs.copy()
    for name, value in (("wbc", wbc), ("alc", alc)):
        per_ul = rng.random(n) < 0.35
        out[f"{name}_value"] = np.where(per_ul, np.round(value, 2) * 1000, np.round(value, 2))
        out[f"{name}_unit"] = np.where(per_ul, "2", "1")
    return out


def add_dual_platform_days(labs: pd.DataFrame, samples: pd.DataFrame, dual_platform: set[str]) -> pd.DataFrame:
    """A laboratory without beads needs the blood count of every day it measures: the laboratory
    form gains a row (WBC and ALC only, the other analytes empty) on each detection-tube day of a
    `dual_platform` site that has none, numbered after the record's last instance; `add_blood_counts`
    then writes the day's true counts into it. Not on a day between the pre-lymphodepletion sample
    and the infusion: that row would become the Hematotox score's "closest before LD" sample, without
    its analytes (such a tube has no count, so no cells/uL)."""
    detect = samples[(samples["panel_kind"] == "DETECT") & samples["site"].isin(dual_platform)]
    if detect.empty:
        return labs
    dates = pd.to_datetime(labs["lab_date"])
    have = set(zip(labs["record_id"], dates, strict=True))
    infusion = (
        (pd.to_datetime(samples["date"]) - pd.to_timedelta(samples["day"], unit="D"))
        .groupby(samples["record_id"])
        .first()
    )
    days = detect.drop_duplicates(["record_id", "date"])
    pre_ld = pd.Series(dates.to_numpy(), index=labs["record_id"].to_numpy())
    pre_ld = pre_ld[pre_ld < pd.to_datetime(labs["record_id"].map(infusion)).to_numpy()].groupby(level=0).max()
    new = days[
        [
            (r, pd.Timestamp(d)) not in have and (day >= 0 or pd.Timestamp(d) < pre_ld.get(r, pd.Timestamp.max))
            for r, d, day in zip(days["record_id"], days["date"], days["day"], strict=True)
        ]
    ]
    if new.empty:
        return labs
    last = labs.groupby("record_id")["redcap_repeat_instance"].max()
    rows = pd.DataFrame({"record_id": new["record_id"].to_numpy(), "lab_date": pd.to_datetime(new["date"]).to_numpy()})
    rows["redcap_repeat_instance"] = (
        rows["record_id"].map(last).fillna(0).astype(int) + rows.groupby("record_id").cumcount() + 1
    )
    return pd.concat([labs, rows], ignore_index=True)

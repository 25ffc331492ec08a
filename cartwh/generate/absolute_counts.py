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
# (tests/test_generate_absolute_counts.py pins them).
BEAD_LOTS = {
    "TC2018": 50318, "TC2019": 49655, "TC2020": 49872, "TC2021": 50125, "TC2022": 51230,
    "TC2023": 50642, "TC2024": 49310, "TC2025": 50977, "TC2026": 51488, "TC2027": 50204,
}  # fmt: skip
# Blood per bead tube: the lyse-no-wash protocol's 50 uL, or a bulk lysis of more blood when the
# leukocytes are so few that the acquired events need more (at most 80 % of a tube is acquired).
SAMPLE_VOLUMES_UL = np.array([50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0])
_MAX_ACQUIRED_SHARE = 0.8
_BEAD_PANELS = ("DETECT", "MEMORY")  # the leukapheresis product is not counted per uL


def add_beads(samples: pd.DataFrame) -> pd.DataFrame:
    """Bead lot, beads per tube, volume and bead events of each detection and memory tube
    (NaN / None for the leukapheresis tubes). `samples` holds `events` (leukocytes acquired),
    `wbc` (true leukocytes/uL) and `acquisition_date`."""
    s = samples.copy()
    counted = s["panel_kind"].isin(_BEAD_PANELS).to_numpy()
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
    same_day.index = pd.MultiIndex.from_arrays([same_day.index.get_level_values(0),
                                                pd.to_datetime(same_day.index.get_level_values(1))])  # fmt: skip
    n = len(labs)
    wbc = same_day["wbc"].reindex(key).to_numpy(dtype=float) / 1000
    alc = same_day["lymph"].reindex(key).to_numpy(dtype=float) / 1000
    drawn_wbc = rng.uniform(0.3, 9.0, n)
    wbc, alc = np.where(np.isnan(wbc), drawn_wbc, wbc), np.where(np.isnan(alc), drawn_wbc * rng.uniform(0.1, 0.45, n), alc)
    out = labs.copy()
    for name, value in (("wbc", wbc), ("alc", alc)):
        per_ul = rng.random(n) < 0.35
        out[f"{name}_value"] = np.where(per_ul, np.round(value, 2) * 1000, np.round(value, 2))
        out[f"{name}_unit"] = np.where(per_ul, "2", "1")
    return out

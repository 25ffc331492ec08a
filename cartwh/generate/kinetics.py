"""True cell populations of each sample: CAR-T expansion, contraction and persistence, B-cell
aplasia and recovery, memory phenotype, leukapheresis composition.

The curve rises log-linearly to the designed peak (Cmax at Tmax), contracts over the first
month and persists at a slowly declining level, as tisagenlecleucel does. B cells fall to
<= 1/uL after infusion and, from the designed loss month, rise sample after sample (the
paper's "confirmed by an increase over time").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwh.contract.cytometry import DAYS_PER_MONTH as MONTH


def sample_values(samples: pd.DataFrame, design: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    s = samples
    m = len(s)
    p = s["patient"].to_numpy()
    t = s["day"].to_numpy()
    u = lambda lo, hi: rng.uniform(lo, hi, m)  # noqa: E731
    col = lambda name: design[name].to_numpy(dtype=float)[p]  # noqa: E731
    peak, pday, pcar = col("peak"), col("pday"), col("pcar")
    ino = (design["group"].to_numpy() == "inotuzumab")[p]

    # CAR-T/uL: the rates are per patient so a patient's curve is one smooth shape.
    n = len(design)
    up, down = rng.uniform(0.3, 0.6, n)[p], rng.uniform(0.08, 0.16, n)[p]
    early = np.where(t < pday, peak * np.exp(-up * (pday - t)), peak * np.exp(-down * (t - pday)))
    at28 = peak * np.exp(-down * (28 - pday))
    car = np.where(t <= 28, early, at28 * np.exp(-0.012 * (t - 28)))
    car = np.where(t < 0, 0.0, car)
    pct = np.clip(pcar * (np.maximum(car, 1e-9) / peak) ** 0.6, 0.01, 95)
    cd3 = np.where(t < 0, u(300, 1500), np.clip(car / (pct / 100), 50, 60000))

    bcells = _bcells(s, design, rng, p, t)
    lymph = cd3 / u(0.6, 0.9) + bcells
    s = s.assign(
        events=rng.integers(150_000, 800_000, m),
        wbc=lymph / u(0.15, 0.45),
        lymph=lymph,
        cd3=cd3,
        car=car,
        car_cd4_frac=u(0.15, 0.6),
        carneg_cd8_frac=u(0.25, 0.45),
        bcells=bcells,
    )
    s = _phenotype(s, design, rng, p, ino)
    return _leukapheresis(s, design, rng, p)


def _bcells(s, design, rng, p, t) -> np.ndarray:
    m = len(s)
    pbb = design["pbb"].to_numpy(dtype=float)[p]
    loss_day = np.round(design["loss_m"].to_numpy(dtype=float) * MONTH)[p]
    aplastic = rng.uniform(0, 0.6, m)
    lost = ~np.isnan(loss_day) & (t >= loss_day - 8)
    steps = pd.Series(lost).groupby(p).cumsum().to_numpy() - 1  # 0 at the loss sample
    recovering = 2.0 * 2.2 ** np.clip(steps, 0, 10) * rng.uniform(0.9, 1.1, m)
    d5 = np.isclose(t, 5)
    return np.round(
        np.select(
            [t < 0, lost, d5],
            [pbb, np.minimum(recovering, 600), np.minimum(pbb * rng.uniform(0.005, 0.02, m), aplastic + pbb * 0.01)],
            aplastic,
        ),
        3,
    )


def _subsets(rng, scm: np.ndarray) -> dict[str, np.ndarray]:
    """Naive/SCM/CM/EM/TEMRA as % of the parent, summing to 100 with the given SCM."""
    m = len(scm)
    raw = {
        "naive": rng.uniform(0, 4, m),
        "cm": rng.uniform(5, 25, m),
        "em": rng.uniform(30, 60, m),
        "temra": rng.uniform(10, 40, m),
    }
    scale = (100 - scm) / sum(raw.values())
    return {"scm": scm, **{k: v * scale for k, v in raw.items()}}


def _phenotype(s, design, rng, p, ino) -> pd.DataFrame:
    m = len(s)
    scm_peak = np.nan_to_num(design["scm"].to_numpy(dtype=float))[p]
    scm = np.where(s["is_peak"], scm_peak, np.clip(scm_peak * rng.uniform(0.5, 1.5, m), 0, 60))
    relapsing = ~np.isnan(design["rel_m"].to_numpy(dtype=float))[p]
    scm_neg = rng.uniform(0.5, 5, m) * np.where(relapsing, 0.4, 1.0)  # low SCM CAR-neg: worse EFS (Fig. 5)
    clip = lambda x: np.clip(x, 0, 100)  # noqa: E731
    values = {f"car_cd8_{k}": v for k, v in _subsets(rng, scm).items()}
    values |= {f"carneg_cd8_{k}": v for k, v in _subsets(rng, scm_neg).items()}
    values |= {
        "car_cd8_pd1": clip(rng.normal(np.where(ino, 70, 88), 12)),
        "car_cd8_lag3": clip(rng.normal(27, 12, m)),
        "car_cd8_ki67": clip(rng.normal(np.where(ino, 83, 95), 10)),
        "car_cd8_cd71": clip(rng.normal(45, 15, m)),
        "carneg_cd8_pd1": clip(rng.normal(35, 12, m)),
        "carneg_cd8_lag3": clip(rng.normal(10, 5, m)),
        "carneg_cd8_ki67": clip(rng.normal(20, 10, m)),
        "carneg_cd8_cd71": clip(rng.normal(15, 8, m)),
        "car_cd4_ki67": clip(rng.normal(85, 15, m)),
    }
    return s.assign(**values)


def _leukapheresis(s, design, rng, p) -> pd.DataFrame:
    """Product composition by burden at apheresis (the paper's Supplementary Figure 6)."""
    m = len(s)
    pre = design["pre"].to_numpy(dtype=float)[p]
    high = pre > 5
    u = lambda lo, hi: rng.uniform(lo, hi, m)  # noqa: E731
    return s.assign(
        monocytes_pct=np.where(high, u(0.5, 6), u(5, 40)),
        mono_classical_pct=u(70, 85),  # with intermediate <= 12 %, non-classical keeps >= 3 %
        mono_intermediate_pct=np.where(high, u(1, 5), u(4, 12)),
        pdc_pct=np.where(high, u(0, 0.05), u(0.05, 0.8)),
        mdc_pct=np.where(high, u(0, 0.05), u(0.09, 1.7)),
        lymphoblasts_pct=np.where(high, np.minimum(pre * u(0.2, 1.0), 60), u(0, 0.25)),
        lymphocytes_pct=u(30, 65),
        lk_cd3_pct=u(60, 85),
        lk_cd8_pct=u(25, 45),
        lk_cd8_scm_like_pct=u(0.2, 3.7),
    )

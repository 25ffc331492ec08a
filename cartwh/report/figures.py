"""Publication figures of the study report, drawn with matplotlib's object API.

Each function takes a DataFrame read from the analytics tables and returns a ``Figure``.
Nothing goes through pyplot: no display, no pyplot state, so figures can be built in worker
threads. ``to_svg`` and ``save`` write them out deterministically.

* Kaplan-Meier input is ``cartwh.stats.survival.kaplan_meier``'s table plus a ``group``
  column (lifelines' convention: ``at_risk`` = subjects with duration >= time, ``events`` /
  ``censored`` = counts at exactly that time, a time-0 row per group).
* Colours are Okabe-Ito, given by position in ``group_order``: a group keeps its colour in
  every figure drawn with the same order.
* A log axis becomes "symlog" when the data hold zeros (CAR-T below detection): logarithmic
  down to the decade at or below the smallest positive value, linear from there to 0, so
  zeros stay visible at 0 instead of being dropped or clipped.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import ascii_uppercase

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MultipleLocator

# Okabe & Ito (2008), colour-blind safe; their yellow is left out (unreadable on white).
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
KM_INPUT = ["group", "time", "survival", "ci_lower", "ci_upper", "at_risk", "events", "censored"]
PANEL_KEYS = {"value", "ylabel", "log_scale", "p_text", "title"}
JITTER_SEED = 0
# A registry's figures show every patient in boxes and medians, but draw at most this many
# points per box and patient lines per group: beyond that they only hide the summary (and make
# the page megabytes of SVG).
MAX_POINTS, MAX_LINES = 500, 150
SVG_SALT = "cartwh"
PNG_DPI = 200
_SVG_LOCK = threading.Lock()  # svg.* settings exist only as rcParams: one temporary change at a time


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}")


def _groups(values: pd.Series, group_order: Sequence | None) -> list[tuple[object, str]]:
    """(group, colour) to draw, in ``group_order`` or order of appearance. Absent groups of
    ``group_order`` are skipped but keep their colour; a group missing from it raises."""
    present = list(pd.unique(values.dropna()))
    order = present if group_order is None else list(group_order)
    hidden = [g for g in present if g not in order]
    if hidden:
        raise ValueError(f"group(s) {hidden} are in the data but not in group_order")
    return [(g, PALETTE[i % len(PALETTE)]) for i, g in enumerate(order) if g in present]


def _label(g, group_labels: Mapping | None) -> str:
    return str(group_labels.get(g, g)) if group_labels else str(g)


def _log_scale(ax, values) -> None:
    """Log y axis, symlog if there are zeros (see the module docstring)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if np.any(v < 0):
        raise ValueError("a log axis needs values >= 0")
    positive = v[v > 0]
    if positive.size and positive.size == v.size:
        return ax.set_yscale("log")
    floor = 10.0 ** math.floor(math.log10(positive.min())) if positive.size else 1.0
    ax.set_yscale("symlog", linthresh=floor, linscale=0.5)


def _finish(ax, title: str, ylabel: str, title_size: float = 11) -> None:
    ax.set_title(title, fontsize=title_size)
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)


def _headroom(ax, fraction: float) -> None:
    """Raise the y axis top by ``fraction`` of its height in the scale's own coordinates (so on log
    axes too): room for the p text above the points."""
    scale = ax.yaxis.get_transform()
    lo, hi = scale.transform(np.array(ax.get_ylim()))
    ax.set_ylim(ax.get_ylim()[0], float(scale.inverted().transform(np.array([hi + fraction * (hi - lo)]))[0]))


def numbers_at_risk(km: pd.DataFrame, times: Sequence[float]) -> pd.DataFrame:
    """Number at risk per group (rows, order of appearance) at each of ``times`` (columns).

    n(t) = n - (events + censored at times strictly before t), n = ``at_risk`` of the group's first
    (time-0) row: lifelines' ``at_risk``, also between and beyond the table's times (0 once all left).
    """
    _require(km, ["group", "time", "at_risk", "events", "censored"], "KM table")
    times = [float(t) for t in times]
    rows = {}
    for g, tab in km.groupby("group", sort=False):
        tab = tab.sort_values("time")
        n, t = int(tab["at_risk"].iloc[0]), tab["time"].to_numpy(dtype=float)
        left = (tab["events"] + tab["censored"]).to_numpy(dtype=float)
        rows[g] = [n - int(left[t < x].sum()) for x in times]
    out = pd.DataFrame.from_dict(rows, orient="index", columns=times)
    out.index.name, out.columns.name = "group", "time"
    return out


def km_figure(km: pd.DataFrame, *, title: str, endpoint_label: str = "Event-free survival", group_order=None,
              group_labels: Mapping | None = None, p_text: str | None = None, at_risk_every: float = 6.0,
              max_time: float | None = None, xlabel: str = "Months", ci_band: bool = True) -> Figure:
    """Kaplan-Meier curves with censoring ticks, n in the legend, the p text and a numbers-at-risk
    table under the x axis (one coloured row per group, at the x ticks).

    ``ci_band`` shades the 95 % CI of a single group only (several bands are unreadable).
    ``max_time`` defaults to the last time rounded up to a multiple of ``at_risk_every``.
    """
    _require(km, KM_INPUT, "KM table")
    if not at_risk_every > 0:
        raise ValueError("at_risk_every must be positive")
    groups = _groups(km["group"], group_order)
    if not groups:
        raise ValueError("KM table has no rows")
    last = max(math.ceil(float(km["time"].max()) / at_risk_every), 1) * at_risk_every
    x_max = float(max_time) if max_time is not None else last
    ticks = list(np.arange(0.0, x_max + at_risk_every / 1000, at_risk_every))
    at_risk = numbers_at_risk(km, ticks)
    fig = Figure(figsize=(6.5, 4.8))
    table_h = 0.045 * len(groups)  # one text row per group
    bottom = 0.04 + table_h + 0.155  # room for tick labels, x label and the table title
    ax = fig.add_axes((0.17, bottom, 0.79, 0.91 - bottom))
    table = fig.add_axes((0.17, 0.04, 0.79, table_h), sharex=ax)
    for i, (g, colour) in enumerate(groups):
        d = km[km["group"] == g].sort_values("time")
        t, s = d["time"].to_numpy(dtype=float), d["survival"].to_numpy(dtype=float)
        if ci_band and len(groups) == 1:
            ax.fill_between(t, d["ci_lower"].to_numpy(dtype=float), d["ci_upper"].to_numpy(dtype=float),
                            step="post", color=colour, alpha=0.15, lw=0, label="95 % CI")
        n = d["at_risk"].iloc[0]
        ax.step(t, s, where="post", color=colour, lw=1.8, label=f"{_label(g, group_labels)} (n = {n})")
        cens = d["censored"].to_numpy() > 0
        ax.plot(t[cens], s[cens], ls="none", marker="|", ms=8, mew=1.2, color=colour)
        row = len(groups) - 1 - i  # first group on top, as in the legend
        for x, v in zip(ticks, at_risk.loc[g], strict=True):
            table.text(x, row, str(v), ha="center", va="center", fontsize=8.5, color=colour)
        table.text(-0.03, row, _label(g, group_labels), transform=table.get_yaxis_transform(), ha="right",
                   va="center", fontsize=8.5, color=colour)
    table.set_ylim(-0.5, len(groups) - 0.5)
    table.axis("off")
    table.set_title("Number at risk", loc="left", fontsize=9, pad=3)
    ax.set(xlim=(0, x_max), ylim=(0, 1.02), yticks=np.linspace(0, 1, 6), xlabel=xlabel)
    ax.set_xticks(ticks, [f"{x:g}" for x in ticks])
    _finish(ax, title, f"{endpoint_label} (probability)")
    if p_text:
        ax.text(0.03, 0.05, p_text, transform=ax.transAxes, ha="left", va="bottom", fontsize=9, zorder=5,
                bbox=dict(facecolor="white", edgecolor="none", alpha=0.85, pad=2))  # legible over a curve
    ax.legend(loc="best", frameon=False, fontsize=8.5)  # "best" also avoids the p text
    return fig


def _at_most(values: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """All values, or a random `limit` of them (seeded: the same picture every night)."""
    values = np.asarray(values)
    return values if values.size <= limit else rng.choice(values, size=limit, replace=False)


def _box_axes(ax, data: pd.DataFrame, *, value: str, group: str, group_order, group_labels, ylabel: str,
              log_scale: bool, p_text: str | None, title: str = "", title_size: float = 11) -> None:
    """One box plot per group with the points jittered on top, n under each label.

    Whiskers run from minimum to maximum: every point is drawn anyway, and unlike Tukey's
    1.5 IQR fences, quartiles and extremes do not change under a log axis.
    """
    _require(data, [group, value], "box-plot data")
    groups = _groups(data[group], group_order)
    vals = [pd.to_numeric(data.loc[data[group] == g, value]).dropna().to_numpy(dtype=float) for g, _ in groups]
    pos = np.arange(1, len(groups) + 1)
    filled = [i for i, v in enumerate(vals) if v.size]  # boxplot cannot draw an empty box
    if filled:
        boxes = ax.boxplot([vals[i] for i in filled], positions=pos[filled], widths=0.55, whis=(0, 100),
                           showfliers=False, patch_artist=True, medianprops=dict(color="black", lw=1.5))
        for patch, i in zip(boxes["boxes"], filled, strict=True):
            patch.set_facecolor((groups[i][1], 0.2))
            patch.set_edgecolor(groups[i][1])
    rng = np.random.default_rng(JITTER_SEED)  # fresh per axes: same picture on every call
    for p, v, (_, colour) in zip(pos, vals, groups, strict=True):
        shown = _at_most(v, MAX_POINTS, rng)  # boxes use every value; a registry's points would hide them
        ax.scatter(p + rng.uniform(-0.15, 0.15, shown.size), shown, s=16 if v.size <= MAX_POINTS else 4, color=colour,
                   alpha=0.8, edgecolors="none", zorder=3)  # fmt: skip
    if log_scale:
        _log_scale(ax, np.concatenate(vals) if vals else [])
    ax.set(xlim=(0.4, len(groups) + 0.6), xticks=pos,
           xticklabels=[f"{_label(g, group_labels)}\n(n = {v.size})" for (g, _), v in zip(groups, vals, strict=True)])
    _finish(ax, title, ylabel, title_size)
    if p_text:
        _headroom(ax, 0.12)
        ax.text(0.5, 0.98, p_text, transform=ax.transAxes, ha="center", va="top", fontsize=9)


def box_figure(data: pd.DataFrame, *, value: str, group: str, ylabel: str, title: str, group_order=None,
               group_labels: Mapping | None = None, log_scale: bool = False, p_text: str | None = None) -> Figure:
    """Box plots of ``data[value]`` by ``data[group]``; NaN values are left out of n."""
    fig = Figure(figsize=(1.6 + 0.9 * max(data[group].nunique(), 1), 4.2), layout="constrained")
    ax = fig.add_subplot()
    _box_axes(ax, data, value=value, group=group, group_order=group_order, group_labels=group_labels,
              ylabel=ylabel, log_scale=log_scale, p_text=p_text, title=title)
    return fig


def box_panels(data: pd.DataFrame, *, panels: Sequence[Mapping], group: str, title: str, group_order=None,
               group_labels: Mapping | None = None) -> Figure:
    """Box plots side by side, lettered A, B, ... (the paper's Figure 4). Each panel is a dict: ``value``
    (column, required), ``ylabel`` (default the column), ``log_scale`` (False), ``p_text``, ``title``."""
    if not panels:
        raise ValueError("no panels")
    width = 0.9 + 0.85 * max(data[group].nunique(), 1)  # per panel: room for the group labels
    fig = Figure(figsize=(0.3 + width * len(panels), 4.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for letter, ax, spec in zip(ascii_uppercase, axes, panels, strict=False):  # more letters than panels
        unknown = set(spec) - PANEL_KEYS
        if unknown or "value" not in spec:
            raise ValueError(f"panel {letter}: needs 'value', unknown keys {sorted(unknown)}")
        _box_axes(ax, data, value=spec["value"], group=group, group_order=group_order, group_labels=group_labels,
                  ylabel=spec.get("ylabel", spec["value"]), log_scale=spec.get("log_scale", False),
                  p_text=spec.get("p_text"), title=spec.get("title") or "", title_size=10)
        ax.set_title(letter, loc="left", fontweight="bold")
    fig.suptitle(title, fontsize=11)
    return fig


def kinetics_figure(kinetics: pd.DataFrame, *, title: str, group_order=None, group_labels: Mapping | None = None,
                    day_max: float | None = None, median_day: str = "study_day", min_patients: int = 3) -> Figure:
    """CAR-T/uL over study day: a thin line per patient, a bold median per group.

    Rows with NaN CAR-T/uL or day are dropped (a missing count is not a zero). The median at a day
    is over patients (one value each) and drawn only where at least ``min_patients`` have one;
    ``median_day`` names the column of days to pool by: pass a nominal-day column, since actual
    draws scatter around the nominal day and per-actual-day medians zigzag.
    """
    _require(kinetics, ["patient_key", "group", "study_day", "car_t_per_ul", median_day], "kinetics table")
    k = kinetics.dropna(subset=["car_t_per_ul", "study_day", median_day])
    if day_max is not None:
        k = k[k["study_day"] <= day_max]
    groups = _groups(kinetics["group"], group_order)
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax, handles = fig.add_subplot(), []
    for g, colour in groups:
        kg = k[k["group"] == g]
        patients = kg["patient_key"].unique()
        drawn = set(_at_most(patients, MAX_LINES, np.random.default_rng(JITTER_SEED)))  # medians use everyone
        for _, p in kg[kg["patient_key"].isin(drawn)].groupby("patient_key", sort=False):
            p = p.sort_values("study_day")
            ax.plot(p["study_day"], p["car_t_per_ul"], color=colour, lw=0.7, alpha=0.35, marker=".", ms=2)
        per_patient = kg.groupby([median_day, "patient_key"])["car_t_per_ul"].median()  # one value each
        per_day = per_patient.groupby(level=0).agg(["median", "count"])
        per_day = per_day[per_day["count"] >= min_patients]
        handles += ax.plot(per_day.index, per_day["median"], color=colour, lw=2.4, marker="o", ms=4,
                           label=f"{_label(g, group_labels)}, median (n = {kg['patient_key'].nunique()})")
    most = max((k.loc[k["group"] == g, "patient_key"].nunique() for g, _ in groups), default=0)
    sample = f" ({MAX_LINES} random per group)" if most > MAX_LINES else ""
    handles.append(Line2D([], [], color="grey", lw=0.7, alpha=0.6, label=f"individual patients{sample}"))
    _log_scale(ax, k["car_t_per_ul"])
    hi = float(day_max) if day_max is not None else max(float(k["study_day"].max()), 7.0) if len(k) else 28.0
    ax.set(xlim=(0, hi), xlabel="Days after infusion")
    if hi <= 63:
        ax.xaxis.set_major_locator(MultipleLocator(7))  # weekly ticks for the expansion phase
    _finish(ax, title, "CAR-T cells/µL")
    ax.legend(handles=handles, loc="best", frameon=False, fontsize=8.5)
    return fig


def to_svg(fig: Figure) -> str:
    """SVG text of ``fig``: fixed hash salt and no date, so equal figures give equal text; text stays
    ``<text>`` (svg.fonttype 'none': searchable, small, drawn in the viewer's sans-serif font)."""
    buf = io.BytesIO()
    with _SVG_LOCK, matplotlib.rc_context({"svg.hashsalt": SVG_SALT, "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buf.getvalue().decode("utf-8")


def save(fig: Figure, path_without_suffix) -> list[Path]:
    """Write ``<path>.svg`` (``to_svg``) and ``<path>.png`` (200 dpi); returns both paths."""
    base = Path(path_without_suffix)
    base.parent.mkdir(parents=True, exist_ok=True)
    svg, png = base.with_name(base.name + ".svg"), base.with_name(base.name + ".png")
    svg.write_text(to_svg(fig), encoding="utf-8")
    fig.savefig(png, format="png", dpi=PNG_DPI, bbox_inches="tight")
    return [svg, png]

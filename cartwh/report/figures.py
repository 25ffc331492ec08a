"""Publication figures of the study report, drawn with matplotlib's object API.

Each function takes a DataFrame read from the analytics tables and returns a ``Figure``.
Nothing goes through pyplot: no display, no pyplot state, so figures can be built in worker
threads. ``to_svg`` and ``save`` write them out deterministically.

* Kaplan-Meier input is ``cartwh.stats.survival.kaplan_meier``'s table plus a ``group``
  column (lifelines' convention: ``at_risk`` = subjects with duration >= time, ``events`` /
  ``censored`` = counts at exactly that time, a time-0 row per group).
* Colours are Okabe-Ito, given by position in ``group_order``: a group keeps its colour in
  every figure drawn with the same order (a stacked cumulative incidence colours its causes).
* Cumulative incidence (``cif_figure``, ``stacked_cif_figure``) takes the tables of
  ``cartwh.stats.competing_risks.cumulative_incidence`` plus a ``group`` or ``cause`` column.
* Every panel is one figure of PANEL_SIZE, fonts sized for it (FONT), saved without trimming:
  the report shows panels side by side at one width, so equal sizes mean equal lettering. Panel
  letters are the report's (beside each image), never drawn inside one.
* The log-rank p label goes where no curve, censoring mark or CI band passes (`clear_spot`),
  or above the axes when the curves leave no room inside.
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

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cbook import STEP_LOOKUP_MAP
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.path import Path as CurvePath
from matplotlib.ticker import MultipleLocator
from matplotlib.transforms import Bbox, offset_copy

# Okabe & Ito (2008), colour-blind safe; their yellow is left out (unreadable on white).
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
KM_INPUT = ["group", "time", "survival", "ci_lower", "ci_upper", "at_risk", "events", "censored"]
PANEL_KEYS = {"value", "ylabel", "log_scale", "p_text", "title"}
JITTER_SEED = 0
# A registry's figures show every patient in boxes and medians, but draw at most this many
# points per box and patient lines per group: beyond that they only hide the summary (and make
# the page megabytes of SVG).
MAX_POINTS, MAX_LINES = 500, 150
PANEL_SIZE = (6.4, 4.8)  # inches, every panel
FONT = {"title": 11, "label": 10, "tick": 9, "note": 9}  # points, for PANEL_SIZE shown at half a page's width
# Where the p label may go, in axes fractions (x, y, ha, va), in order of preference: survminer's
# bottom left first, then the other corners and edges.
P_SPOTS = [
    (0.03, 0.04, "left", "bottom"),
    (0.97, 0.04, "right", "bottom"),
    (0.97, 0.96, "right", "top"),
    (0.5, 0.04, "center", "bottom"),
    (0.03, 0.5, "left", "center"),
    (0.97, 0.5, "right", "center"),
    (0.5, 0.96, "center", "top"),
    (0.03, 0.96, "left", "top"),
]
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


def _finish(ax, title: str, ylabel: str, title_size: float = FONT["title"]) -> None:
    ax.set_title(title, fontsize=title_size, wrap=True)
    ax.set_ylabel(ylabel, fontsize=FONT["label"])
    ax.xaxis.label.set_fontsize(FONT["label"])
    ax.tick_params(labelsize=FONT["tick"])
    ax.spines[["top", "right"]].set_visible(False)


def _renderer(fig: Figure):
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    return canvas.get_renderer()


def curve_paths(ax) -> list[CurvePath]:
    """What is drawn on `ax`, in display coordinates: each line as drawn (its steps, for a step
    plot), each marker as a small square around it, each CI band as its polygon."""
    paths = []
    for line in ax.get_lines():
        x, y = (np.asarray(v, dtype=float) for v in line.get_data())
        if line.get_linestyle() not in ("None", "none", "", " ") and len(x) > 1:
            steps = STEP_LOOKUP_MAP[line.get_drawstyle() or "default"](x, y)
            paths.append(CurvePath(ax.transData.transform(np.column_stack(steps))))
        if line.get_marker() not in (None, "None", "none", "", " "):
            half = line.get_markersize() * ax.figure.dpi / 72 / 2
            for px, py in ax.transData.transform(np.column_stack([x, y])):
                paths.append(
                    CurvePath.unit_rectangle().transformed(
                        matplotlib.transforms.Affine2D().scale(2 * half).translate(px - half, py - half)
                    )
                )
    for collection in ax.collections:  # fill_between: the CI bands
        paths += [collection.get_transform().transform_path(p) for p in collection.get_paths()]
    return paths


def _crosses(box: Bbox, paths: Sequence[CurvePath]) -> bool:
    return any(
        path.intersects_bbox(box, filled=len(path.vertices) > 2 and path.codes is not None)
        or path.contains_points(box.corners()).any()
        for path in paths
    )


def clear_spot(ax, text: str, fontsize: float = FONT["note"]):
    """Write `text` at the first of P_SPOTS where its box crosses nothing drawn on `ax`
    (`curve_paths`, the display extent of the drawn data); when every spot is taken, above the
    axes at the right. Returns the Text."""
    renderer, paths = _renderer(ax.figure), curve_paths(ax)
    for x, y, ha, va in P_SPOTS:
        label = ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=fontsize, zorder=5)
        if not _crosses(label.get_window_extent(renderer).expanded(1.1, 1.3), paths):
            return label
        label.remove()
    return ax.text(1.0, 1.01, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=fontsize)


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


def _text_width(fig: Figure, texts, fontsize: float) -> float:
    """The widest of `texts` at `fontsize`, in inches."""
    renderer = _renderer(fig)
    widths = [fig.text(0, 0, str(t), fontsize=fontsize).get_window_extent(renderer).width for t in texts]
    fig.texts.clear()
    return max(widths, default=0.0) / fig.dpi


def _panel_with_risk_table(rows: Sequence[tuple[str, str, Sequence[int]]], ticks: Sequence[float]):
    """A panel's figure, its plot axes and, under them, the numbers at risk: one row per
    (label, colour, counts at `ticks`), first row on top, each in its colour. The labels end a gap
    before the widest count of the first column (a count is centred on its tick), so a long label
    never runs into a four-digit count; their width sets the left margin."""
    fig = Figure(figsize=PANEL_SIZE)
    gap = 0.08  # inches between a label and the first count
    half_count = _text_width(fig, [counts[0] for _, _, counts in rows], FONT["note"]) / 2
    label_end = half_count + gap
    left = min(max(0.13, (_text_width(fig, [r[0] for r in rows], FONT["note"]) + label_end + 0.1) / PANEL_SIZE[0]), 0.5)
    table_h = 0.05 * len(rows)  # one text row per group
    bottom = 0.04 + table_h + 0.16  # room for tick labels, x label and the table title
    ax = fig.add_axes((left, bottom, 0.96 - left, 0.88 - bottom))
    table = fig.add_axes((left, 0.04, 0.96 - left, table_h), sharex=ax)
    labels_at = offset_copy(table.get_yaxis_transform(), fig=fig, x=-label_end, units="inches")
    for i, (label, colour, counts) in enumerate(rows):
        row = len(rows) - 1 - i  # first row on top, as in the legend
        for x, v in zip(ticks, counts, strict=True):
            table.text(x, row, str(v), ha="center", va="center", fontsize=FONT["note"], color=colour)
        table.text(0, row, label, transform=labels_at, ha="right", va="center", fontsize=FONT["note"], color=colour)
    table.set_ylim(-0.5, len(rows) - 0.5)
    table.axis("off")
    table.set_title("Number at risk", loc="left", fontsize=FONT["note"], pad=3)
    ax.set_xticks(list(ticks), [f"{x:g}" for x in ticks])
    return fig, ax


def _ticks(times: pd.Series, every: float, max_time: float | None) -> list[float]:
    if not every > 0:
        raise ValueError("at_risk_every must be positive")
    last = max(math.ceil(float(times.max()) / every), 1) * every
    x_max = float(max_time) if max_time is not None else last
    return list(np.arange(0.0, x_max + every / 1000, every))


def _median_lines(ax, medians: Mapping) -> None:
    """survminer's surv.median.line = "hv": dashed from the y axis at 0.5 to each reached median,
    and down from there to the x axis."""
    reached = [float(m) for m in medians.values() if m is not None and np.isfinite(m)]
    if not reached:
        return
    style = dict(color="0.35", lw=0.9, ls=(0, (4, 3)), zorder=1)
    ax.plot([0, max(reached)], [0.5, 0.5], **style)
    for m in reached:
        ax.plot([m, m], [0, 0.5], **style)


def km_figure(
    km: pd.DataFrame,
    *,
    title: str,
    endpoint_label: str = "Event-free survival",
    group_order=None,
    group_labels: Mapping | None = None,
    p_text: str | None = None,
    at_risk_every: float = 6.0,
    max_time: float | None = None,
    xlabel: str = "Months",
    ci_band: bool = False,
    medians: Mapping | None = None,
) -> Figure:
    """Kaplan-Meier curves with censoring ticks, n in the legend, the p text (and any hazard ratio
    written into it) where no curve passes (`clear_spot`) and a numbers-at-risk table under the x
    axis (`_panel_with_risk_table`).

    ``ci_band`` shades each group's 95 % CI in its colour (survminer's conf.int, off by default);
    ``medians`` (group -> median time) draws survminer's median lines for the groups that reach it.
    ``max_time`` defaults to the last time rounded up to a multiple of ``at_risk_every``.
    """
    _require(km, KM_INPUT, "KM table")
    groups = _groups(km["group"], group_order)
    if not groups:
        raise ValueError("KM table has no rows")
    ticks = _ticks(km["time"], at_risk_every, max_time)
    at_risk = numbers_at_risk(km, ticks)
    fig, ax = _panel_with_risk_table([(_label(g, group_labels), c, list(at_risk.loc[g])) for g, c in groups], ticks)
    for g, colour in groups:
        d = km[km["group"] == g].sort_values("time")
        t, s = d["time"].to_numpy(dtype=float), d["survival"].to_numpy(dtype=float)
        if ci_band:
            ax.fill_between(
                t,
                d["ci_lower"].to_numpy(dtype=float),
                d["ci_upper"].to_numpy(dtype=float),
                step="post",
                color=colour,
                alpha=0.2 if len(groups) > 1 else 0.25,
                lw=0,
            )
        n = d["at_risk"].iloc[0]
        ax.step(t, s, where="post", color=colour, lw=1.8, label=f"{_label(g, group_labels)} (n = {n})")
        cens = d["censored"].to_numpy() > 0
        ax.plot(t[cens], s[cens], ls="none", marker="|", ms=8, mew=1.2, color=colour)
    _median_lines(ax, medians or {})
    ax.set(xlim=(0, ticks[-1]), ylim=(0, 1.02), yticks=np.linspace(0, 1, 6), xlabel=xlabel)
    _finish(ax, title, f"{endpoint_label} (probability)")
    if p_text:
        clear_spot(ax, p_text)
    ax.legend(loc="best", frameon=False, fontsize=FONT["note"])  # "best" avoids the curves and the p text
    return fig


def _incidence_at_risk(cif: pd.DataFrame, ticks: Sequence[float]) -> pd.DataFrame:
    """Numbers at risk of a cumulative-incidence table: every exit (an event of any cause or a
    censoring) leaves the risk set."""
    exits = cif.assign(events=cif["events"] + cif["competing_events"])
    return numbers_at_risk(exits, ticks)


def cif_figure(
    cif: pd.DataFrame,
    *,
    title: str,
    group_order=None,
    group_labels: Mapping | None = None,
    p_text: str | None = None,
    at_risk_every: float = 6.0,
    xlabel: str = "Months",
) -> Figure:
    """The cumulative incidence of one cause (the title names it) per group, rising steps from 0 with each group's
    95 % CI dotted, the test's p where no curve passes, and the numbers at risk below (every
    exit, of any cause, leaves the risk set). ``cif``: ``cartwh.stats.competing_risks``' table
    with a ``group`` column."""
    _require(cif, ["group", "time", "estimate", "ci_lower", "ci_upper", "at_risk", "events", "competing_events"], "CIF")
    groups = _groups(cif["group"], group_order)
    if not groups:
        raise ValueError("cumulative-incidence table has no rows")
    ticks = _ticks(cif["time"], at_risk_every, None)
    at_risk = _incidence_at_risk(cif, ticks)
    fig, ax = _panel_with_risk_table([(_label(g, group_labels), c, list(at_risk.loc[g])) for g, c in groups], ticks)
    for g, colour in groups:
        d = cif[cif["group"] == g].sort_values("time")
        t = d["time"].to_numpy(dtype=float)
        ax.step(
            t,
            d["estimate"],
            where="post",
            color=colour,
            lw=1.8,
            label=f"{_label(g, group_labels)} (n = {d['at_risk'].iloc[0]})",
        )
        for limit in ("ci_lower", "ci_upper"):
            ax.step(t, d[limit], where="post", color=colour, lw=0.8, ls=":", alpha=0.8)
    ax.set(xlim=(0, ticks[-1]), ylim=(0, 1.02), yticks=np.linspace(0, 1, 6), xlabel=xlabel)
    _finish(ax, title, "Cumulative incidence (probability)")
    if p_text:
        clear_spot(ax, p_text)
    ax.legend(loc="upper left", frameon=False, fontsize=FONT["note"])
    return fig


def stacked_cif_figure(
    cif: pd.DataFrame,
    *,
    title: str,
    cause_order: Sequence,
    cause_labels: Mapping,
    at_risk_label: str = "All patients",
    at_risk_every: float = 6.0,
    xlabel: str = "Months",
) -> Figure:
    """Every cause's cumulative incidence stacked (the first at the bottom) on one time axis, so
    the top edge is the probability of having left by any cause; the numbers at risk below.
    ``cif``: one ``cartwh.stats.competing_risks`` table per cause, with a ``cause`` column."""
    _require(cif, ["cause", "time", "estimate", "at_risk", "events", "competing_events"], "CIF")
    causes = [c for c in cause_order if c in set(cif["cause"])]
    if not causes:
        raise ValueError("cumulative-incidence table has no rows")
    times = np.unique(cif["time"].to_numpy(dtype=float))
    ticks = _ticks(cif["time"], at_risk_every, None)
    first = cif[cif["cause"] == causes[0]].assign(group=at_risk_label)
    at_risk = _incidence_at_risk(first, ticks)
    fig, ax = _panel_with_risk_table([(at_risk_label, "black", list(at_risk.loc[at_risk_label]))], ticks)
    floor = np.zeros(times.size)
    for i, cause in enumerate(causes):
        d = cif[cif["cause"] == cause].sort_values("time")
        at = np.searchsorted(d["time"].to_numpy(dtype=float), times, side="right") - 1
        top = floor + d["estimate"].to_numpy(dtype=float)[at]
        colour = PALETTE[i % len(PALETTE)]
        ax.fill_between(
            times, floor, top, step="post", color=colour, alpha=0.75, lw=0, label=str(cause_labels.get(cause, cause))
        )
        floor = top
    ax.step(times, floor, where="post", color="black", lw=1.0)
    ax.set(xlim=(0, ticks[-1]), ylim=(0, 1.02), yticks=np.linspace(0, 1, 6), xlabel=xlabel)
    _finish(ax, title, "Cumulative incidence (stacked)")
    ax.legend(loc="upper left", frameon=False, fontsize=FONT["note"], reverse=True)  # top band first, as drawn
    return fig


def _at_most(values: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """All values, or a random `limit` of them (seeded: the same picture every night)."""
    values = np.asarray(values)
    return values if values.size <= limit else rng.choice(values, size=limit, replace=False)


def _box_axes(
    ax,
    data: pd.DataFrame,
    *,
    value: str,
    group: str,
    group_order,
    group_labels,
    ylabel: str,
    log_scale: bool,
    p_text: str | None,
    title: str = "",
    title_size: float = FONT["title"],
) -> None:
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
        boxes = ax.boxplot(
            [vals[i] for i in filled],
            positions=pos[filled],
            widths=0.55,
            whis=(0, 100),
            showfliers=False,
            patch_artist=True,
            medianprops=dict(color="black", lw=1.5),
        )
        for patch, i in zip(boxes["boxes"], filled, strict=True):
            patch.set_facecolor((groups[i][1], 0.2))
            patch.set_edgecolor(groups[i][1])
    rng = np.random.default_rng(JITTER_SEED)  # fresh per axes: same picture on every call
    for p, v, (_, colour) in zip(pos, vals, groups, strict=True):
        shown = _at_most(v, MAX_POINTS, rng)  # boxes use every value; a registry's points would hide them
        ax.scatter(
            p + rng.uniform(-0.15, 0.15, shown.size),
            shown,
            s=16 if v.size <= MAX_POINTS else 4,
            color=colour,
            alpha=0.8,
            edgecolors="none",
            zorder=3,
        )
    if log_scale:
        _log_scale(ax, np.concatenate(vals) if vals else [])
    ax.set(
        xlim=(0.4, len(groups) + 0.6),
        xticks=pos,
        xticklabels=[f"{_label(g, group_labels)}\n(n = {v.size})" for (g, _), v in zip(groups, vals, strict=True)],
    )
    _finish(ax, title, ylabel, title_size)
    if p_text:
        _headroom(ax, 0.12)
        ax.text(0.5, 0.98, p_text, transform=ax.transAxes, ha="center", va="top", fontsize=FONT["note"])


def box_figure(
    data: pd.DataFrame,
    *,
    value: str,
    group: str,
    ylabel: str,
    title: str,
    group_order=None,
    group_labels: Mapping | None = None,
    log_scale: bool = False,
    p_text: str | None = None,
) -> Figure:
    """Box plots of ``data[value]`` by ``data[group]``; NaN values are left out of n."""
    fig = Figure(figsize=PANEL_SIZE, layout="constrained")
    ax = fig.add_subplot()
    _box_axes(
        ax,
        data,
        value=value,
        group=group,
        group_order=group_order,
        group_labels=group_labels,
        ylabel=ylabel,
        log_scale=log_scale,
        p_text=p_text,
        title=title,
    )
    return fig


def box_panels(
    data: pd.DataFrame,
    *,
    panels: Sequence[Mapping],
    group: str,
    title: str,
    group_order=None,
    group_labels: Mapping | None = None,
) -> Figure:
    """Box plots side by side in one panel (the paper's Figure 4A: three measures), unlettered: the
    report letters panels, not the plots inside one. Each plot is a dict: ``value`` (column,
    required), ``ylabel`` (default the column), ``log_scale`` (False), ``p_text``, ``title``."""
    if not panels:
        raise ValueError("no panels")
    fig = Figure(figsize=PANEL_SIZE, layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for number, (ax, spec) in enumerate(zip(axes, panels, strict=True), start=1):
        unknown = set(spec) - PANEL_KEYS
        if unknown or "value" not in spec:
            raise ValueError(f"plot {number}: needs 'value', unknown keys {sorted(unknown)}")
        _box_axes(
            ax,
            data,
            value=spec["value"],
            group=group,
            group_order=group_order,
            group_labels=group_labels,
            ylabel=spec.get("ylabel", spec["value"]),
            log_scale=spec.get("log_scale", False),
            p_text=spec.get("p_text"),
            title=spec.get("title") or "",
            title_size=FONT["label"],
        )
    fig.suptitle(title, fontsize=FONT["title"])
    return fig


def kinetics_figure(
    kinetics: pd.DataFrame,
    *,
    title: str,
    group_order=None,
    group_labels: Mapping | None = None,
    day_max: float | None = None,
    median_day: str = "study_day",
    min_patients: int = 3,
) -> Figure:
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
    fig = Figure(figsize=PANEL_SIZE, layout="constrained")
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
        handles += ax.plot(
            per_day.index,
            per_day["median"],
            color=colour,
            lw=2.4,
            marker="o",
            ms=4,
            label=f"{_label(g, group_labels)}, median (n = {kg['patient_key'].nunique()})",
        )
    most = max((k.loc[k["group"] == g, "patient_key"].nunique() for g, _ in groups), default=0)
    sample = f" ({MAX_LINES} random per group)" if most > MAX_LINES else ""
    handles.append(Line2D([], [], color="grey", lw=0.7, alpha=0.6, label=f"individual patients{sample}"))
    _log_scale(ax, k["car_t_per_ul"])
    hi = float(day_max) if day_max is not None else max(float(k["study_day"].max()), 7.0) if len(k) else 28.0
    ax.set(xlim=(0, hi), xlabel="Days after infusion")
    if hi <= 63:
        ax.xaxis.set_major_locator(MultipleLocator(7))  # weekly ticks for the expansion phase
    _finish(ax, title, "CAR-T cells/µL")
    ax.legend(handles=handles, loc="best", frameon=False, fontsize=FONT["note"])
    return fig


def to_svg(fig: Figure) -> str:
    """SVG text of ``fig``: fixed hash salt and no date, so equal figures give equal text; text stays
    ``<text>`` (svg.fonttype 'none': searchable, small, drawn in the viewer's sans-serif font).
    Not trimmed to its content: every panel keeps PANEL_SIZE."""
    buf = io.BytesIO()
    with _SVG_LOCK, matplotlib.rc_context({"svg.hashsalt": SVG_SALT, "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue().decode("utf-8")


def save(fig: Figure, path_without_suffix) -> list[Path]:
    """Write ``<path>.svg`` (``to_svg``) and ``<path>.png`` (200 dpi); returns both paths."""
    base = Path(path_without_suffix)
    base.parent.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is not None:  # one layout for both files (it depends on the output's dpi)
        fig.draw_without_rendering()
        fig.set_layout_engine("none")
    svg, png = base.with_name(base.name + ".svg"), base.with_name(base.name + ".png")
    svg.write_text(to_svg(fig), encoding="utf-8")
    fig.savefig(png, format="png", dpi=PNG_DPI)
    return [svg, png]

"""Tests of cartwh.report.figures.

Numbers at risk and curve heights are checked against hand counts; figures against what
they must show (each group's at-risk row as text in its colour, the p text, one step
curve per group) and against crashing on zeros and NaN. SVG is parsed, never compared to
a stored file, so the tests do not hang on matplotlib's exact layout.
"""

import xml.etree.ElementTree as ET

import matplotlib
import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from cartwh.report import figures as fg

A_T, A_E = [1, 2, 2, 3, 5], [1, 0, 1, 1, 0]
B_T, B_E = [1, 1, 4, 6, 8, 8, 9], [1, 0, 1, 0, 1, 1, 0]


def km_table(durations, events, group) -> pd.DataFrame:
    """The warehouse's KM long format, built from lifelines directly (not from cartwh)."""
    kmf = KaplanMeierFitter().fit(durations, events)
    et, sf = kmf.event_table, kmf.survival_function_
    ci = kmf.confidence_interval_survival_function_
    assert list(et.index) == list(sf.index)
    return pd.DataFrame(
        {
            "group": group,
            "time": et.index.to_numpy(dtype=float),
            "survival": sf.iloc[:, 0].to_numpy(),
            "ci_lower": ci.iloc[:, 0].to_numpy(),
            "ci_upper": ci.iloc[:, 1].to_numpy(),
            "at_risk": et["at_risk"].to_numpy(),
            "events": et["observed"].to_numpy(),
            "censored": et["censored"].to_numpy(),
        }
    )


def two_groups() -> pd.DataFrame:
    return pd.concat([km_table(A_T, A_E, "a"), km_table(B_T, B_E, "b")], ignore_index=True)


def svg_texts(svg: str) -> list[tuple[str, float, str]]:
    """(fill colour or '', x, text) of every <text> element."""
    out = []
    for el in ET.fromstring(svg).iter():
        if el.tag.endswith("}text") and el.text:
            style = dict(kv.split(":", 1) for kv in (el.get("style") or "").split(";") if ":" in kv)
            style = {k.strip(): v.strip() for k, v in style.items()}
            out.append((style.get("fill", ""), float(el.get("x", "nan")), el.text))
    return out


# ---------------------------------------------------------------- numbers at risk
def test_numbers_at_risk_by_hand():
    # durations [1,2,2,3,5], events [1,0,1,1,0]:
    # t=0: all 5 at risk.
    # t=2: the event at 1 has left; both subjects at 2 (one event, one censored) still count -> 4.
    # t=4: gone before 4: one at 1, two at 2, one at 3 -> 1 (the subject censored at 5).
    # t=6: beyond the last time, everyone has left -> 0.
    nar = fg.numbers_at_risk(km_table(A_T, A_E, "a"), [0, 2, 4, 6])
    assert nar.loc["a"].tolist() == [5, 4, 1, 0]
    assert list(nar.columns) == [0.0, 2.0, 4.0, 6.0]


def test_numbers_at_risk_two_groups_in_order_of_appearance():
    # b: durations [1,1,4,6,8,8,9]; n=7; before 2: two at 1 -> 5; before 4: same -> 5;
    # before 6: + the one at 4 -> 4; before 8: + the one at 6 -> 3; t=10: all gone -> 0.
    km = pd.concat([km_table(B_T, B_E, "b"), km_table(A_T, A_E, "a")], ignore_index=True)
    nar = fg.numbers_at_risk(km, [0, 2, 4, 6, 8, 10])
    assert list(nar.index) == ["b", "a"]
    assert nar.loc["b"].tolist() == [7, 5, 5, 4, 3, 0]
    assert nar.loc["a"].tolist() == [5, 4, 1, 0, 0, 0]


def test_numbers_at_risk_match_lifelines_at_table_times():
    km = km_table(B_T, B_E, "b")
    assert fg.numbers_at_risk(km, km["time"]).loc["b"].tolist() == km["at_risk"].tolist()


# ---------------------------------------------------------------- KM figure
def test_km_figure_svg_shows_at_risk_rows_in_group_colours_and_p_text():
    fig = fg.km_figure(
        two_groups(),
        title="EFS",
        p_text="log-rank p = 0.005",
        at_risk_every=2,
        group_labels={"a": "Arm A", "b": "Arm B"},
    )
    texts = svg_texts(fg.to_svg(fig))
    words = [t for _, _, t in texts]
    assert "log-rank p = 0.005" in words
    assert "Arm A" in words and "Arm B" in words and "Number at risk" in words
    # ticks 0, 2, ..., 10 (last time 9 rounded up); counts as in the hand computations above
    for colour, expected in [(fg.PALETTE[0], [5, 4, 1, 0, 0, 0]), (fg.PALETTE[1], [7, 5, 5, 4, 3, 0])]:
        row = sorted((x, t) for c, x, t in texts if c.lower() == colour.lower() and t.isdigit())
        assert [int(t) for _, t in row] == expected


def test_km_figure_one_step_line_per_group_and_censor_marks_on_the_curve():
    ax = fg.km_figure(two_groups(), title="EFS").axes[0]
    assert len([ln for ln in ax.get_lines() if ln.get_drawstyle() == "steps-post"]) == 2
    # a: S = 0.8 after t=1, 0.8*3/4 = 0.6 after t=2, 0.6*1/2 = 0.3 after t=3; censored at 2 and 5
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == "|"][0]
    assert list(marks.get_xdata()) == [2.0, 5.0]
    assert list(marks.get_ydata()) == pytest.approx([0.6, 0.3])
    assert ax.get_ylim() == (0, 1.02)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (n = 5)", "b (n = 7)"]


def test_km_figure_single_group_with_ci_band():
    ax = fg.km_figure(
        km_table(B_T, B_E, "All patients"), title="OS", endpoint_label="Overall survival", ci_band=True
    ).axes[0]
    assert len([ln for ln in ax.get_lines() if ln.get_drawstyle() == "steps-post"]) == 1
    assert len(ax.collections) == 1  # the 95 % CI band
    assert ax.get_ylabel() == "Overall survival (probability)"


def test_ci_bands_are_off_by_default_and_one_per_group_when_on():
    km = two_groups()
    assert len(fg.km_figure(km, title="EFS").axes[0].collections) == 0  # survminer's conf.int = FALSE
    bands = fg.km_figure(km, title="EFS", ci_band=True).axes[0].collections
    assert len(bands) == 2
    # each band spans its group's lifelines CI: its vertical extent is [min lower, max upper]
    for band, group in zip(bands, ["a", "b"], strict=True):
        ys = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
        d = km[km["group"] == group]
        assert ys.min() == pytest.approx(d["ci_lower"].min()) and ys.max() == pytest.approx(d["ci_upper"].max())


def _drawn_points(ax) -> np.ndarray:
    """Points along every curve as drawn (the steps of each step line, every censoring mark), in
    display coordinates, computed here from the lines' data: 200 points per segment."""
    points = []
    for line in ax.get_lines():
        x, y = (np.asarray(v, dtype=float) for v in line.get_data())
        if line.get_drawstyle() == "steps-post":  # (x0, y0) -> (x1, y0) -> (x1, y1) ...
            x, y = np.repeat(x, 2)[1:], np.repeat(y, 2)[:-1]
        for (x0, y0), (x1, y1) in zip(zip(x[:-1], y[:-1], strict=True), zip(x[1:], y[1:], strict=True), strict=True):
            t = np.linspace(0, 1, 200)
            points.append(np.column_stack([x0 + t * (x1 - x0), y0 + t * (y1 - y0)]))
        points.append(np.column_stack([x, y]))
    return ax.transData.transform(np.concatenate(points))


def _p_label(ax, text):
    (label,) = [t for t in ax.texts if t.get_text() == text]
    return label.get_window_extent(ax.figure.canvas.get_renderer())


def test_p_label_is_placed_where_no_curve_passes():
    # Both groups fall to 0 by month 3 and stay there: the curves run along the bottom, where the
    # p label would go first (bottom left), so it must move.
    early = pd.concat(
        [km_table([1, 2, 2, 3], [1, 1, 1, 1], "a"), km_table([1, 1, 2, 3, 10], [1, 1, 1, 1, 0], "b")], ignore_index=True
    )
    for km in (two_groups(), early):
        ax = fg.km_figure(km, title="EFS", p_text="log-rank p = 0.04").axes[0]
        box = _p_label(ax, "log-rank p = 0.04")
        points = _drawn_points(ax)
        inside = (
            (points[:, 0] >= box.x0) & (points[:, 0] <= box.x1) & (points[:, 1] >= box.y0) & (points[:, 1] <= box.y1)
        )
        assert not inside.any()
        assert ax.get_window_extent().contains(box.x0, box.y0)  # inside the axes while there is room


def test_p_label_goes_above_the_axes_when_the_curves_leave_no_room():
    full = two_groups().assign(ci_lower=0.0, ci_upper=1.0)  # bands covering the whole plot
    ax = fg.km_figure(full, title="EFS", p_text="p = 0.3", ci_band=True, max_time=9).axes[0]  # b: bands to t = 9
    assert _p_label(ax, "p = 0.3").y0 >= ax.get_window_extent().y1


def _kinetics() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_key": ["p1", "p1", "p2", "p2"],
            "group": ["x"] * 4,
            "study_day": [0, 7, 0, 7],
            "nominal_day": [0, 7, 0, 7],
            "car_t_per_ul": [0.0, 10.0, 1.0, 20.0],
        }
    )


def _every_kind_of_panel():
    return [
        fg.km_figure(two_groups(), title="EFS", p_text="p = 0.1"),
        fg.km_figure(two_groups(), title="EFS", group_labels={"a": "Intermediate (3–4 points)", "b": "b"}),
        fg.box_figure(box_data(), value="pct", group="bridging", ylabel="x", title="t"),
        fg.box_panels(
            box_data(),
            group="bridging",
            title="Figure 4",
            panels=[dict(value="pct"), dict(value="car_t"), dict(value="pct")],
        ),
        fg.kinetics_figure(_kinetics(), title="Kinetics", median_day="nominal_day", min_patients=1),
    ]


def test_every_panel_is_drawn_at_one_size_and_unlettered():
    sizes = set()
    for fig in _every_kind_of_panel():
        assert tuple(fig.get_size_inches()) == fg.PANEL_SIZE
        root = ET.fromstring(fg.to_svg(fig))
        sizes.add((root.get("width"), root.get("height")))
        # the report letters panels (A, B, ...): no letter alone inside an image
        assert not [t for _, _, t in svg_texts(fg.to_svg(fig)) if len(t.strip()) == 1 and t.strip().isupper()]
    assert sizes == {(f"{fg.PANEL_SIZE[0] * 72:g}pt", f"{fg.PANEL_SIZE[1] * 72:g}pt")}


def test_risk_table_labels_stay_inside_the_figure():
    fig = fg.km_figure(two_groups(), title="EFS", group_labels={"a": "Intermediate (3–4 points)", "b": "b"})
    renderer = fig.canvas.get_renderer()
    labels = [t for ax in fig.axes for t in ax.texts if t.get_text().startswith("Intermediate")]
    assert labels and all(t.get_window_extent(renderer).x0 >= 0 for t in labels)


def test_km_figure_group_missing_from_order_raises():
    with pytest.raises(ValueError, match="not in group_order"):
        fg.km_figure(two_groups(), title="EFS", group_order=["a"])


# ---------------------------------------------------------------- box plots
def box_data() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "bridging": ["chemo"] * 4 + ["ino"] * 3,
            "car_t": [0.0, 5.0, 120.0, np.nan, 0.0, 0.3, 40.0],
            "pct": [1.0, 2.0, 30.0, 4.0, 5.0, 6.0, 7.0],
        }
    )


def test_box_figure_zeros_on_log_scale():
    fig = fg.box_figure(
        box_data(), value="car_t", group="bridging", ylabel="CAR-T/µL", title="Peak", log_scale=True, p_text="p = 0.2"
    )
    ax = fig.axes[0]
    assert ax.get_yscale() == "symlog"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["chemo\n(n = 3)", "ino\n(n = 3)"]
    assert "p = 0.2" in [t for _, _, t in svg_texts(fg.to_svg(fig))]


def test_box_figure_log_scale_without_zeros_is_plain_log_and_negative_raises():
    data = box_data().assign(car_t=lambda d: d["car_t"] + 1)
    fig = fg.box_figure(data, value="car_t", group="bridging", ylabel="x", title="t", log_scale=True)
    assert fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match=">= 0"):
        fg.box_figure(data.assign(car_t=-1.0), value="car_t", group="bridging", ylabel="x", title="t", log_scale=True)


def test_box_jitter_is_deterministic():
    def offsets():
        ax = fg.box_figure(box_data(), value="pct", group="bridging", ylabel="x", title="t").axes[0]
        return np.concatenate([c.get_offsets() for c in ax.collections])

    assert np.array_equal(offsets(), offsets())


def test_box_panels_side_by_side():
    fig = fg.box_panels(
        box_data(),
        group="bridging",
        title="Figure 4",
        group_order=["ino", "chemo"],
        panels=[
            dict(value="pct", ylabel="% CAR of CD3"),
            dict(value="car_t", ylabel="CAR-T/µL", log_scale=True, p_text="p = 0.04"),
        ],
    )
    a, b = fig.axes
    assert [a.get_yscale(), b.get_yscale()] == ["linear", "symlog"]
    assert a.get_title(loc="left") == "" and b.get_title(loc="left") == ""  # the report letters panels
    assert [t.get_text() for t in b.get_xticklabels()] == ["ino\n(n = 3)", "chemo\n(n = 3)"]
    with pytest.raises(ValueError, match="unknown keys"):
        fg.box_panels(box_data(), group="bridging", title="t", panels=[dict(value="pct", ylable="typo")])


# ---------------------------------------------------------------- kinetics
def test_kinetics_figure_with_nan_and_zeros_and_medians_by_hand():
    kin = pd.DataFrame(
        {
            "patient_key": ["p1", "p2", "p3"] * 3 + ["q1", "q1"],
            "group": ["x"] * 9 + ["y", "y"],
            "study_day": [0, 0, 0, 7, 7, 7, 14, 14, 14, 0, 7],
            "car_t_per_ul": [0, 0, 0, 10, 30, np.nan, 5, 15, 25, 0, np.nan],
        }
    )
    ax = fg.kinetics_figure(kin, title="Kinetics", min_patients=2).axes[0]
    assert ax.get_yscale() == "symlog"
    med = [ln for ln in ax.get_lines() if ln.get_label().startswith("x, median")][0]
    # x: day 0 median of 0,0,0 = 0; day 7: 10, 30 (p3 missing) -> 20; day 14: 5, 15, 25 -> 15
    assert list(med.get_xdata()) == [0, 7, 14] and list(med.get_ydata()) == [0, 20, 15]
    ax3 = fg.kinetics_figure(kin, title="Kinetics", min_patients=3, day_max=10).axes[0]
    med3 = [ln for ln in ax3.get_lines() if ln.get_label().startswith("x, median")][0]
    assert list(med3.get_xdata()) == [0]  # day 7 has two patients; day 14 is beyond day_max
    assert ax3.get_xlim() == (0, 10)


# ---------------------------------------------------------------- output
def test_to_svg_is_deterministic_and_leaves_rcparams_alone():
    before = dict(matplotlib.rcParams)
    fig = fg.km_figure(two_groups(), title="EFS", p_text="p = 0.1")
    first = fg.to_svg(fig)
    assert first == fg.to_svg(fig)
    assert first == fg.to_svg(fg.km_figure(two_groups(), title="EFS", p_text="p = 0.1"))
    assert "<dc:date>" not in first
    assert dict(matplotlib.rcParams) == before


def test_save_writes_svg_and_png(tmp_path):
    fig = fg.box_figure(box_data(), value="pct", group="bridging", ylabel="x", title="t")
    paths = fg.save(fig, tmp_path / "out" / "fig4.v1")
    assert [p.name for p in paths] == ["fig4.v1.svg", "fig4.v1.png"]
    assert paths[0].read_text(encoding="utf-8") == fg.to_svg(fig)
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_registry_draws_a_sample_of_points_and_lines_but_summarises_everyone():
    rng = np.random.default_rng(1)
    n = 3_000
    data = pd.DataFrame({"g": np.repeat(["a", "b"], n // 2), "v": rng.lognormal(size=n)})
    fig = fg.box_figure(data, value="v", group="g", ylabel="v", title="t")
    ax = fig.axes[0]
    points = sum(len(c.get_offsets()) for c in ax.collections)
    assert points == 2 * fg.MAX_POINTS
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"a\n(n = {n // 2})", f"b\n(n = {n // 2})"]
    kinetics = pd.DataFrame(
        {
            "patient_key": np.repeat(np.arange(400), 2),
            "group": "a",
            "study_day": np.tile([7, 14], 400),
            "car_t_per_ul": rng.lognormal(size=800),
        }
    )
    fig = fg.kinetics_figure(kinetics, title="k")
    patient_lines = [line for line in fig.axes[0].get_lines() if line.get_linewidth() == 0.7]
    assert len(patient_lines) == fg.MAX_LINES
    assert "median (n = 400)" in fig.axes[0].get_legend().get_texts()[0].get_text()


# ---------------------------------------------------------------- registry-sized numbers at risk
def test_risk_table_labels_never_run_into_four_digit_counts():
    # 1,000 and 2,500 patients: the first count is four digits wide and centred on t = 0, so a
    # label ending a fixed fraction left of the axis ran into it ("points)1000").
    rng = np.random.default_rng(1)
    big = pd.concat(
        [
            km_table(rng.exponential(12, n), rng.random(n) < 0.6, g)
            for g, n in (("Intermediate (3–4 points)", 1000), ("High risk (> 4 points)", 2500))
        ],
        ignore_index=True,
    )
    fig = fg.km_figure(big, title="EFS")
    renderer = fig.canvas.get_renderer()
    table = fig.axes[1]
    for label in [t for t in table.texts if "points" in t.get_text()]:
        box = label.get_window_extent(renderer)
        same_row = [
            t.get_window_extent(renderer)
            for t in table.texts
            if t.get_text().isdigit() and t.get_position()[1] == label.get_position()[1]
        ]
        assert same_row and box.x1 < min(b.x0 for b in same_row), label.get_text()
        assert box.x0 >= 0  # and the label stays inside the figure


def test_median_lines_for_the_groups_that_reach_it():
    ax = fg.km_figure(two_groups(), title="EFS", medians={"a": 3.0, "b": float("nan")}).axes[0]
    dashed = [
        ln for ln in ax.get_lines() if ln.get_drawstyle() == "default" and ln.get_marker() in ("None", "none", "")
    ]
    segments = sorted((tuple(ln.get_xdata()), tuple(ln.get_ydata())) for ln in dashed)
    assert segments == [((0.0, 3.0), (0.5, 0.5)), ((3.0, 3.0), (0.0, 0.5))]  # survminer's "hv"


# ---------------------------------------------------------------- cumulative incidence
def cif_tables() -> pd.DataFrame:
    from cartwh.stats.competing_risks import cumulative_incidence

    a = cumulative_incidence([1, 2, 3, 4], ["x", "y", None, "x"], "x").assign(group="a")
    b = cumulative_incidence([1, 1, 5], ["x", None, "y"], "x").assign(group="b")
    return pd.concat([a, b], ignore_index=True)


def test_cif_figure_counts_every_exit_in_the_numbers_at_risk():
    # a: 4 at 0; after 1 (x), 2 (y), 3 (censored): 3, 2, 1 at t = 2, 3, 4 (risk set n(t) counts t itself)
    # b: 3 at 0; after 1 (x and a censoring): 1 at t = 2..5
    fig = fg.cif_figure(cif_tables(), title="Relapse", at_risk_every=1, p_text="Gray's test: p = 0.4")
    texts = svg_texts(fg.to_svg(fig))
    assert "Gray's test: p = 0.4" in [t for _, _, t in texts]
    for colour, expected in [(fg.PALETTE[0], [4, 4, 3, 2, 1, 0]), (fg.PALETTE[1], [3, 3, 1, 1, 1, 1])]:
        row = sorted((x, t) for c, x, t in texts if c.lower() == colour.lower() and t.isdigit())
        assert [int(t) for _, t in row] == expected
    ax = fig.axes[0]
    a = [ln for ln in ax.get_lines() if ln.get_drawstyle() == "steps-post" and ln.get_linewidth() > 1][0]
    # group a, cause x by hand: 1/4 at 1, then (2/4)(1/1) more at 4 (S(4-) = 3/4 * 2/3 = 1/2, n = 1)
    assert list(a.get_ydata()) == pytest.approx([0, 0.25, 0.25, 0.25, 0.75])


def test_stacked_cif_top_edge_is_one_minus_survival():
    from cartwh.stats.competing_risks import cumulative_incidence

    t, causes = [1, 1, 2, 2, 3, 3, 4, 5], ["a", "b", "a", None, "a", "a", None, "b"]
    cif = pd.concat([cumulative_incidence(t, causes, c).assign(cause=c) for c in ("a", "b")], ignore_index=True)
    fig = fg.stacked_cif_figure(cif, title="All", cause_order=["a", "b"], cause_labels={"a": "A", "b": "B"})
    ax = fig.axes[0]
    (edge,) = [ln for ln in ax.get_lines() if ln.get_drawstyle() == "steps-post"]
    # the hand-computed table of tests/unit/stats/test_stats_competing_risks.py: 1 - S = 2/8, 3/8, 11/16, 11/16, 1
    assert list(edge.get_ydata()) == pytest.approx([0, 2 / 8, 3 / 8, 11 / 16, 11 / 16, 1.0])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["B", "A"]  # top band first

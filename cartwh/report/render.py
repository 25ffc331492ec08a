"""Render the study report: one self-contained HTML page (figures inline as SVG), the same page
as a PDF where headless Chromium is installed (``cartwh.report.pdf``), and each figure panel as
SVG and PNG files for slides and manuscripts.

Everything shown is read back from the warehouse (analytics tables and marts), never
recomputed here, so the page shows exactly what analysts can query. The page always renders:
a table row, figure panel or estimate tonight's data cannot give is printed in its place as
"not estimable: <reason>" (a failed check that blocks it, nobody in a group, no measurement).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from string import ascii_uppercase

import duckdb

from cartwh.pages import page_writer
from cartwh.quality.quality_report import quality_summary
from cartwh.report import formatting as fmt
from cartwh.report.figures import save
from cartwh.report.methods import absolute_count_routes, methods_paragraphs
from cartwh.report.panels import ENDPOINT_LABELS, Inputs, NotEstimable, draw_panel, not_estimable, survival_reason
from cartwh.report.pdf import export_pdf, find_chromium
from cartwh.report.tables import competing_risk_table, display_table, group_sizes, regression_rows
from cartwh.stats.conventions import CONSOLIDATIVE_HSCT_CHOICES
from cartwh.study.analytics_tables import ANALYTICS_TABLES
from cartwh.study.compute import code_version
from cartwh.study.config import Plan
from cartwh.synthetic import banner
from cartwh.warehouse.project_versions import sites_awaiting_mapping

write_page = page_writer("cartwh.report")  # its templates/ folder

log = logging.getLogger(__name__)

REPORT_FILE = "study_report.html"
REPORT_PDF = "study_report.pdf"
# Medians per nominal timepoint: actual draw days scatter around it (D11 +- 1, months +- 7).
KINETICS = """
    SELECT k.patient_key, k.study_day, w.nominal_day, k.car_t_per_ul
    FROM marts.car_t_kinetics AS k LEFT JOIN reference.timepoint_windows AS w ON w.timepoint = k.matched_timepoint
    ORDER BY k.patient_key, k.study_day
"""


def _read_inputs(con: duckdb.DuckDBPyConnection) -> Inputs:
    analytics = {name: con.execute(f"SELECT * FROM analytics.{name}").df() for name in ANALYTICS_TABLES}
    return Inputs(analytics, con.execute("SELECT * FROM marts.patients").df(), con.execute(KINETICS).df())


def _inline(svg_file: Path) -> str:
    """The <svg> element alone: the XML prolog and DOCTYPE do not belong inside HTML."""
    text = svg_file.read_text(encoding="utf-8")
    return text[text.index("<svg") :]


def _figures(plan: Plan, inputs: Inputs, out_dir: Path, no_patient: str | None = None) -> list[dict]:
    rendered = []
    for spec in plan.figures:
        panels = []
        for letter, panel in zip(ascii_uppercase, spec["panels"], strict=False):
            stem = out_dir / "figures" / f"figure_{spec['id']}{letter if len(spec['panels']) > 1 else ''}"
            shown = dict(letter=letter if len(spec["panels"]) > 1 else "", svg=None, files=[], notes=[])
            try:
                if no_patient:
                    raise NotEstimable(no_patient)
                figure, shown["notes"] = draw_panel(panel, plan, inputs)
            except ValueError as error:  # NotEstimable, or data the figure functions cannot draw
                log.warning("figure %s%s not drawn: %s", spec["id"], shown["letter"], error)
                shown["notes"] = [not_estimable(str(error))]
                for old in (stem.with_suffix(".svg"), stem.with_suffix(".png")):  # last night's would mislead
                    old.unlink(missing_ok=True)
                panels.append(shown)
                continue
            files = save(figure, stem)  # [.svg, .png]
            panels.append(shown | dict(svg=_inline(files[0]), files=[f.relative_to(out_dir).as_posix() for f in files]))
        rendered.append(dict(id=spec["id"], caption=spec["caption"], panels=panels))
    return rendered


def _missing_survival_rows(plan: Plan, inputs: Inputs) -> list[dict]:
    """A row for every planned analysis x endpoint without estimates, and for every planned group
    without patients, with the reason in place of the numbers."""
    summaries, out = inputs.analytics["survival_summaries"], []
    for a in plan.survival:
        for endpoint in a.endpoints:
            done = summaries.query("analysis == @a.name and endpoint == @endpoint") if len(summaries) else summaries
            if done.empty:
                reason = survival_reason(a.name, endpoint, plan, inputs)
                out.append(dict(endpoint=endpoint, analysis=a.title, note=reason))
                continue
            planned = a.group_order or (plan.group_order if a.by == plan.compare_by else ())
            out += [
                dict(
                    endpoint=endpoint,
                    analysis=a.title,
                    group=plan.label(g, a.by),
                    note="not estimable: no patient in this group",
                )
                for g in planned
                if g not in set(done["group"])
            ]
    return out


def _survival_rows(plan: Plan, inputs: Inputs) -> list[dict]:
    analytics = inputs.analytics
    summaries, landmarks, tests = (analytics[n] for n in ("survival_summaries", "landmark_survival", "survival_tests"))
    rows = []
    planned = {a.name: i for i, a in enumerate(plan.survival)}
    if summaries.empty:  # nothing estimable tonight: the reasons only
        return _missing_survival_rows(plan, inputs)
    summaries = summaries.assign(plan_order=summaries["analysis"].map(planned))
    for s in summaries.sort_values(["endpoint", "plan_order", "group_order"], kind="stable").itertuples():
        at = landmarks.query("analysis == @s.analysis and endpoint == @s.endpoint and group == @s.group")
        test = tests.query("analysis == @s.analysis and endpoint == @s.endpoint")
        rows.append(
            dict(
                endpoint=s.endpoint,
                analysis=plan.survival_analysis(s.analysis).title,
                group=plan.label(s.group, plan.survival_analysis(s.analysis).by),
                n=s.n,
                events=s.events,
                landmarks=[fmt.survival_percent(r.estimate, r.ci_lower, r.ci_upper) for r in at.itertuples()],
                median=fmt.median_with_ci(s.median_months, s.median_ci_lower, s.median_ci_upper, s.median_ci_method),
                km_mean=fmt.km_mean_with_ci(s.km_mean_months, s.km_mean_ci_lower, s.km_mean_ci_upper, s.events),
                rmst="–" if fmt.missing(s.rmst_months) else f"{fmt.number(s.rmst_months)} ± {fmt.number(s.rmst_se)}",
                p=fmt.p_value(test["p_value"].iloc[0]) if len(test) and s.group_order == 0 else "",
            )
        )
    titles = {a.title: i for i, a in enumerate(plan.survival)}
    # A stable sort: each analysis keeps its groups in order, its groups without patients after them.
    return sorted(rows + _missing_survival_rows(plan, inputs), key=lambda r: (r["endpoint"], titles[r["analysis"]]))


def _headline(plan: Plan, analytics: dict, patients) -> dict:
    landmark = analytics["landmark_survival"].query("analysis == 'whole_cohort'")
    follow = analytics["follow_up"].query("group == 'All patients'")
    return dict(
        patients=len(patients),
        groups=", ".join(
            f"{plan.label(g, plan.compare_by)} {n}" for g, n in patients[plan.compare_by].value_counts().items()
        ),
        survival=[
            f"{ENDPOINT_LABELS.get(r.endpoint, r.endpoint)} at {fmt.number(r.landmark_months)} months: "
            f"{fmt.survival_percent(r.estimate, r.ci_lower, r.ci_upper)}"
            for r in landmark.itertuples()
        ],
        follow_up=[
            f"{ENDPOINT_LABELS.get(r.endpoint, r.endpoint)}: {fmt.number(r.median_months)} months "
            f"(95 % CI {fmt.interval(r.ci_lower, r.ci_upper)}{', median ± 1.96 SE' if r.ci_method == 'se' else ''})"
            for r in follow.itertuples()
        ],
    )


def _tables(plan: Plan, inputs: Inputs) -> list:
    """The paper's tables in the plan's order, each competing-risk table after the one it names."""
    analytics = inputs.analytics
    comparisons = analytics["group_comparisons"]
    beside: dict[str | None, list] = {}
    for analysis in plan.competing_risks:
        table = competing_risk_table(
            analysis, plan, analytics["competing_risk_landmarks"], analytics["competing_risk_tests"]
        )
        beside.setdefault(analysis.after_table, []).append(table)
    shown = []
    for t in plan.tables:
        if "analysis" in comparisons and (comparisons["analysis"] == t.name).any():
            shown.append(
                display_table(comparisons[comparisons["analysis"] == t.name], plan, group_sizes(inputs.patients, t.by))
            )
        shown += beside.get(t.name, [])
    return shown + beside.get(None, [])


def no_patient_reason(con: duckdb.DuckDBPyConnection, patients) -> str | None:
    """Why the marts hold no patient yet (None when they do): every section of the report says it."""
    if len(patients):
        return None
    awaiting = [site for site, _, _ in sites_awaiting_mapping(con)]
    if awaiting:
        return (
            f"not estimable: no patient mapped yet (the records of site {', '.join(awaiting)} have landed in the "
            "sites' own tables; no mapping translates them onto the study's dictionary yet: the data-quality "
            "page says what each mapping must cover)"
        )
    return "not estimable: no patient has landed yet"


def _render_without_patients(con, plan: Plan, inputs: Inputs, out_dir: Path, reason: str) -> Path:
    """The report of a night whose marts hold no patient: every section in place, saying why."""
    parameters = dict(con.execute("SELECT parameter, value FROM reference.study_parameters").fetchall())
    version = code_version()
    return write_page(
        "study_report.html.j2",
        out_dir / REPORT_FILE,
        plan=plan,
        fmt=fmt,
        no_patient=reason,
        tables=[],
        headline=dict(patients=0, groups="none", survival=[reason], follow_up=[reason]),
        figures=_figures(plan, inputs, out_dir, no_patient=reason),
        survival=[dict(endpoint=e, analysis=a.title, note=reason) for a in plan.survival for e in a.endpoints],
        endpoint_labels=ENDPOINT_LABELS,
        cox=([], []),
        competing=([], []),
        hsct_choice=CONSOLIDATIVE_HSCT_CHOICES[plan.conventions.consolidative_hsct],
        cutoffs=inputs.analytics["cutoffs"].iloc[0:0],
        quality=quality_summary(con),
        methods=methods_paragraphs(plan, parameters, version, absolute_count_routes(con)),
        snapshot="no patient",
        code_version=version,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        synthetic=banner(con),
    )


def render_report(con: duckdb.DuckDBPyConnection, plan: Plan, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = _read_inputs(con)
    reason = no_patient_reason(con, inputs.patients)
    if reason:
        return _render_without_patients(con, plan, inputs, out_dir, reason)
    analytics = inputs.analytics
    parameters = dict(con.execute("SELECT parameter, value FROM reference.study_parameters").fetchall())
    first = next(f.iloc[0] for f in analytics.values() if len(f))  # provenance: every table carries the same
    context = dict(
        plan=plan,
        fmt=fmt,
        tables=_tables(plan, inputs),
        headline=_headline(plan, analytics, inputs.patients),
        figures=_figures(plan, inputs, out_dir),
        survival=_survival_rows(plan, inputs),
        endpoint_labels=ENDPOINT_LABELS,
        cox=regression_rows(analytics["cox_models"], plan),
        competing=regression_rows(analytics["competing_risk_models"], plan),
        hsct_choice=CONSOLIDATIVE_HSCT_CHOICES[plan.conventions.consolidative_hsct],
        cutoffs=analytics["cutoffs"],
        quality=quality_summary(con),
        methods=methods_paragraphs(plan, parameters, first["code_version"], absolute_count_routes(con)),
        snapshot=first["mart_snapshot"],
        code_version=first["code_version"],
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        synthetic=banner(con),
    )
    page = write_page(
        "study_report.html.j2", out_dir / REPORT_FILE, pdf=REPORT_PDF if find_chromium() else None, **context
    )
    exported = export_pdf(page, out_dir / REPORT_PDF)
    if exported.reason:
        log.warning("study report PDF not written: %s", exported.reason)
        page = write_page("study_report.html.j2", out_dir / REPORT_FILE, pdf=None, **context)  # no link to nothing
    return page

"""The study's analysis plan (`analyses.yml`), read and checked before anything is computed.

A typo in the plan must fail loudly, naming the entry, not surface as an empty figure
after a night's run: unknown keys, unknown row kinds, duplicate names and references to
analyses that do not exist are all errors here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cartwh import settings
from cartwh.stats.conventions import (
    CHI_SQUARE_METHODS,
    CONSOLIDATIVE_HSCT_CHOICES,
    CUMULATIVE_INCIDENCE_CONVENTIONS,
    MANN_WHITNEY_METHODS,
    QUANTILE_CI_METHODS,
    QUANTILE_CONVENTIONS,
)

ROW_KINDS = {"count", "levels", "median_range", "median_ci", "km_median", "heading"}
CUTOFF_METHODS = {"roc", "median"}


class PlanError(ValueError):
    """The analysis plan is inconsistent; the message names the entry."""


@dataclass(frozen=True)
class Conventions:
    """How medians, their CIs and the tests are computed (`conventions:` in analyses.yml);
    the defaults are what SPSS, the paper's software, prints, and for what SPSS does not do
    (competing risks) what R's reference implementation (cmprsk) prints."""

    km_quantile: str = "spss"  # first time S <= 0.5 | "r": midpoint of a flat stretch at 0.5
    median_ci: str = "se"  # median +- 1.96 SE | "band": where the log-log band crosses 0.5
    mann_whitney: str = "asymptotic"  # | asymptotic_corrected | exact | r (wilcox.test's choice)
    chi_square: str = "pearson"  # no continuity correction | "yates" (2x2 tables)
    cumulative_incidence: str = "cuminc"  # cmprsk's variance, log-log CI | "survfit": jackknife, log CI
    consolidative_hsct: str = "competing"  # a competing event | "censored": follow-up ends there


ALLOWED_CONVENTIONS = dict(
    km_quantile=QUANTILE_CONVENTIONS,
    median_ci=QUANTILE_CI_METHODS,
    mann_whitney=MANN_WHITNEY_METHODS,
    chi_square=CHI_SQUARE_METHODS,
    cumulative_incidence=CUMULATIVE_INCIDENCE_CONVENTIONS,
    consolidative_hsct=CONSOLIDATIVE_HSCT_CHOICES,
)


@dataclass(frozen=True)
class SurvivalAnalysis:
    name: str
    title: str
    endpoints: tuple[str, ...]
    by: str | None = None
    cutoff: str | None = None  # 'roc' or 'median' for a continuous `by`
    group_order: tuple[str, ...] | None = None
    # Landmark analysis: time counted from this month, among patients still event-free and
    # followed then (a value measured at month 3 cannot group patients who failed earlier).
    from_month: float | None = None


@dataclass(frozen=True)
class FollowUpAnalysis:
    name: str
    endpoints: tuple[str, ...]
    by: str | None = None


@dataclass(frozen=True)
class CoxAnalysis:
    name: str
    endpoint: str
    factors: tuple[str, ...]
    reference: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CompetingRiskAnalysis:
    """Cumulative incidence per cause of one endpoint (all patients, and per group of `by`), at
    the landmark months, with Gray's test between the groups."""

    name: str
    title: str
    endpoint: str
    causes: dict[str, str]  # cause code -> label, in the order shown; other causes still compete
    by: str | None = None
    group_order: tuple[str, ...] | None = None
    after_table: str | None = None  # the report shows its table after this one of `tables`


@dataclass(frozen=True)
class CompetingRiskRegression:
    """Fine-Gray and cause-specific Cox models of one cause of an endpoint."""

    name: str
    endpoint: str
    cause: str
    factors: tuple[str, ...]
    reference: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TableRow:
    label: str
    kind: str
    column: str | None = None
    level: Any = None
    levels: tuple | None = None
    endpoint: str | None = None
    test: str | None = None  # 'none' prints the row without a p-value
    where: str | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: str
    by: str
    group_order: tuple[str, ...]
    rows: tuple[TableRow, ...]


@dataclass(frozen=True)
class Plan:
    title: str
    reference: str
    compare_by: str
    group_order: tuple[str, ...]
    labels: dict[str, dict[str, str]]  # column -> value -> printed label
    landmark_months: tuple[float, ...]
    rmst_tau_months: float
    cutoff_min_roc_auc: float
    at_risk_every_months: float
    survival: tuple[SurvivalAnalysis, ...]
    follow_up: tuple[FollowUpAnalysis, ...]
    cox: tuple[CoxAnalysis, ...]
    tables: tuple[TableSpec, ...]
    figures: tuple[dict, ...]
    source: str = ""
    conventions: Conventions = Conventions()
    ci_bands: bool = False  # shade each KM curve's 95 % CI (survminer's conf.int; off by default, as there)
    competing_risks: tuple[CompetingRiskAnalysis, ...] = ()
    competing_risk_regression: tuple[CompetingRiskRegression, ...] = ()

    def label(self, value, column: str | None = None) -> str:
        """How a value of `column` prints; the value itself when no label is set."""
        return self.labels.get(column or "", {}).get(str(value), str(value))

    def survival_analysis(self, name: str) -> SurvivalAnalysis:
        return next(a for a in self.survival if a.name == name)

    def table(self, name: str) -> TableSpec:
        return next(t for t in self.tables if t.name == name)

    def competing_risk_analysis(self, name: str) -> CompetingRiskAnalysis:
        return next(a for a in self.competing_risks if a.name == name)


def ordered(values, preferred=None) -> list[str]:
    """The distinct values in the planned order, then any value the plan did not foresee
    (sorted): an unexpected group is shown, never dropped."""
    present = [v for v in dict.fromkeys(values) if v is not None and v == v]
    first = [v for v in (preferred or []) if v in present]
    return first + sorted(v for v in present if v not in first)


def _build(cls, entry: dict, where: str):
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()})
    except TypeError as error:
        raise PlanError(f"{where}: {error}") from None


def _unique(items, section: str) -> None:
    names = [item.name for item in items]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise PlanError(f"{section}: duplicate analysis name(s) {sorted(duplicates)}")


def _table(entry: dict, study: dict) -> TableSpec:
    name = entry.get("name", "?")
    rows = tuple(_build(TableRow, row, f"tables.{name}.rows[{i}]") for i, row in enumerate(entry.get("rows", [])))
    for i, row in enumerate(rows):
        if row.kind not in ROW_KINDS:
            raise PlanError(
                f"tables.{name}.rows[{i}] ({row.label}): kind {row.kind!r} is not one of {sorted(ROW_KINDS)}"
            )
        if row.kind not in {"heading", "km_median"} and not row.column:
            raise PlanError(f"tables.{name}.rows[{i}] ({row.label}): kind {row.kind} needs a column")
        if row.kind == "km_median" and not row.endpoint:
            raise PlanError(f"tables.{name}.rows[{i}] ({row.label}): km_median needs an endpoint")
    return TableSpec(
        name=name,
        title=entry.get("title", name),
        by=entry.get("by", study["compare_by"]),
        group_order=tuple(entry.get("group_order", study["group_order"])),
        rows=rows,
    )


def _competing_risks(entry: dict, tables: tuple[TableSpec, ...]) -> CompetingRiskAnalysis:
    where = f"competing_risks.{entry.get('name')}"
    analysis = _build(CompetingRiskAnalysis, entry, where)
    if not isinstance(analysis.causes, dict) or not analysis.causes:
        raise PlanError(f"{where}: causes must map each cause shown to its label")
    if analysis.after_table is not None and analysis.after_table not in {t.name for t in tables}:
        raise PlanError(f"{where}: after_table {analysis.after_table!r} is not one of the tables")
    return analysis


def _conventions(entry: dict) -> Conventions:
    conventions = _build(Conventions, entry, "conventions")
    for name, allowed in ALLOWED_CONVENTIONS.items():
        if getattr(conventions, name) not in allowed:
            raise PlanError(f"conventions.{name}: {getattr(conventions, name)!r} is not one of {list(allowed)}")
    return conventions


def _flag(section: dict, name: str) -> bool:
    value = section.get(name, False)
    if not isinstance(value, bool):
        raise PlanError(f"settings.{name}: {value!r} is not true or false")
    return value


def parse_plan(document: dict, source: str = "") -> Plan:
    study, s = document["study"], document["settings"]
    survival = tuple(_build(SurvivalAnalysis, e, f"survival.{e.get('name')}") for e in document.get("survival", []))
    for a in survival:
        if a.cutoff is not None and a.cutoff not in CUTOFF_METHODS:
            raise PlanError(f"survival.{a.name}: cutoff {a.cutoff!r} is not one of {sorted(CUTOFF_METHODS)}")
    follow_up = tuple(_build(FollowUpAnalysis, e, f"follow_up.{e.get('name')}") for e in document.get("follow_up", []))
    cox = tuple(_build(CoxAnalysis, e, f"cox.{e.get('name')}") for e in document.get("cox", []))
    tables = tuple(_table(e, study) for e in document.get("tables", []))
    competing = tuple(_competing_risks(e, tables) for e in document.get("competing_risks", []))
    regression = tuple(
        _build(CompetingRiskRegression, e, f"competing_risk_regression.{e.get('name')}")
        for e in document.get("competing_risk_regression", [])
    )
    sections = (
        ("survival", survival),
        ("follow_up", follow_up),
        ("cox", cox),
        ("tables", tables),
        ("competing_risks", competing),
        ("competing_risk_regression", regression),
    )
    for section, items in sections:
        _unique(items, section)
    plan = Plan(
        title=study["title"],
        reference=study.get("reference", ""),
        compare_by=study["compare_by"],
        group_order=tuple(study["group_order"]),
        labels={
            column: {str(k): v for k, v in values.items()} for column, values in document.get("labels", {}).items()
        },
        landmark_months=tuple(float(t) for t in s["landmark_months"]),
        rmst_tau_months=float(s["rmst_tau_months"]),
        cutoff_min_roc_auc=float(s["cutoff_min_roc_auc"]),
        at_risk_every_months=float(s["at_risk_every_months"]),
        survival=survival,
        follow_up=follow_up,
        cox=cox,
        tables=tables,
        figures=tuple(document.get("figures", [])),
        source=source,
        conventions=_conventions(document.get("conventions") or {}),
        ci_bands=_flag(s, "ci_bands"),
        competing_risks=competing,
        competing_risk_regression=regression,
    )
    _check_figures(plan)
    return plan


def _check_figures(plan: Plan) -> None:
    survival = {a.name for a in plan.survival}
    tables = {t.name for t in plan.tables}
    competing = {a.name: a for a in plan.competing_risks}
    for figure in plan.figures:
        for panel in figure.get("panels", []):
            if "km" in panel and panel["km"] not in survival:
                raise PlanError(f"figures.{figure['id']}: no survival analysis named {panel['km']!r}")
            if "box" in panel and panel["box"] not in tables:
                raise PlanError(f"figures.{figure['id']}: no table named {panel['box']!r}")
            if "cif" in panel:
                analysis = competing.get(panel["cif"])
                if analysis is None:
                    raise PlanError(f"figures.{figure['id']}: no competing-risk analysis named {panel['cif']!r}")
                if "cause" in panel and panel["cause"] not in analysis.causes:
                    raise PlanError(f"figures.{figure['id']}: {panel['cause']!r} is not a cause of {analysis.name}")
                if ("cause" in panel) == bool(panel.get("stacked")):
                    raise PlanError(f"figures.{figure['id']}: a cif panel shows one `cause` or is `stacked`")


def load_plan(path: Path | None = None) -> Plan:
    path = Path(path or settings.analyses_path())
    with open(path, encoding="utf-8") as handle:
        return parse_plan(yaml.safe_load(handle), source=str(path))

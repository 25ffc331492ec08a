"""The study's analysis plan (`analyses.yml`), read and checked before anything is computed.

What the file may say (keys, types, allowed values, names that must exist) is in the models of
analyses_file.py; a mistake is refused naming the entry's path (`analyses.yml: survival[2].by
(by_x): ...`). Here the file becomes the Plan the statistics and the report read: the study's
and the settings' values at its top, and each table with what it leaves to the study filled in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from cartwh import settings
from cartwh.study.analyses_file import (
    AnalysesFile,
    CompetingRiskAnalysis,
    CompetingRiskRegression,
    Conventions,
    CoxAnalysis,
    FollowUpAnalysis,
    SurvivalAnalysis,
    TableRow,
    TableSpec,
)
from cartwh.yaml_models import read, validated

__all__ = [
    "CompetingRiskAnalysis",
    "CompetingRiskRegression",
    "Conventions",
    "CoxAnalysis",
    "FollowUpAnalysis",
    "Plan",
    "PlanError",
    "SurvivalAnalysis",
    "TableRow",
    "TableSpec",
    "load_plan",
    "ordered",
    "parse_plan",
]


class PlanError(ValueError):
    """The analysis plan is inconsistent; the message names the entry."""


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
    figures: tuple[dict, ...]  # as written: {id, caption, panels: [{km: ..., endpoint: ...}, ...]}
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


def parse_plan(document: dict, source: str = "") -> Plan:
    """The plan of `document` (analyses.yml as YAML reads it); `source` is the file it came from."""
    return _plan(validated(AnalysesFile, document, Path(source).name or "analyses.yml", PlanError), source)


def load_plan(path: Path | None = None) -> Plan:
    path = Path(path or settings.analyses_path())
    return _plan(read(AnalysesFile, path, PlanError), str(path))


def _plan(file: AnalysesFile, source: str) -> Plan:
    study, s = file.study, file.settings
    tables = tuple(
        replace(
            t,
            title=t.name if t.title is None else t.title,
            by=study.compare_by if t.by is None else t.by,
            group_order=study.group_order if t.group_order is None else t.group_order,
        )
        for t in file.tables
    )
    return Plan(
        title=study.title,
        reference=study.reference,
        compare_by=study.compare_by,
        group_order=study.group_order,
        labels=file.labels,
        landmark_months=s.landmark_months,
        rmst_tau_months=s.rmst_tau_months,
        cutoff_min_roc_auc=s.cutoff_min_roc_auc,
        at_risk_every_months=s.at_risk_every_months,
        survival=file.survival,
        follow_up=file.follow_up,
        cox=file.cox,
        tables=tables,
        figures=tuple(f.model_dump(mode="json", exclude_unset=True) for f in file.figures),
        source=source,
        conventions=file.conventions,
        ci_bands=s.ci_bands,
        competing_risks=file.competing_risks,
        competing_risk_regression=file.competing_risk_regression,
    )

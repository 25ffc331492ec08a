"""What `analyses.yml` may say: pydantic models of the file, with the types, the allowed values and
the rules between entries each written once. They refuse a mistake before anything is computed (a
typo must not surface as an empty figure after a night's run) and generate the JSON schema editors
check the file against (docs/schemas/analyses.schema.json; an attribute's docstring is its
description there).

The entries (a survival analysis, a table, ...) are frozen pydantic dataclasses: the statistics
and the report use them as they are, and code and tests may build them positionally.
"""

from __future__ import annotations

from dataclasses import field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, model_validator
from pydantic.dataclasses import dataclass

from cartwh.stats.conventions import (
    CHI_SQUARE_METHODS,
    CONSOLIDATIVE_HSCT_CHOICES,
    CUMULATIVE_INCIDENCE_CONVENTIONS,
    MANN_WHITNEY_METHODS,
    QUANTILE_CI_METHODS,
    QUANTILE_CONVENTIONS,
)

# An unknown key is refused: a misspelt one would otherwise be ignored, and its default used.
STRICT = ConfigDict(extra="forbid", use_attribute_docstrings=True)
entry = dataclass(frozen=True, config=STRICT)


def one_of(choices: dict[str, str]) -> Any:
    """A value among the names of `choices` (cartwh/stats/conventions.py, where each is described
    for the report), with those descriptions for editors."""
    return Annotated[
        Literal[tuple(choices)], Field(description="; ".join(f"{name}: {text}" for name, text in choices.items()))
    ]


KmQuantile = one_of(QUANTILE_CONVENTIONS)
MedianCi = one_of(QUANTILE_CI_METHODS)
MannWhitney = one_of(MANN_WHITNEY_METHODS)
ChiSquare = one_of(CHI_SQUARE_METHODS)
CumulativeIncidence = one_of(CUMULATIVE_INCIDENCE_CONVENTIONS)
ConsolidativeHsct = one_of(CONSOLIDATIVE_HSCT_CHOICES)
RowKind = Literal["count", "levels", "median_range", "median_ci", "km_median", "heading"]
# A value of a column, as the labels key it: YAML reads an unquoted 1 or true as a number or a boolean.
Value = Annotated[str, BeforeValidator(str)]


@entry
class Conventions:
    """How medians, their CIs and the tests are computed; the defaults are what SPSS, the paper's
    software, prints, and for what SPSS does not do (competing risks) what R's reference
    implementation (cmprsk) prints."""

    km_quantile: KmQuantile = "spss"
    median_ci: MedianCi = "se"
    mann_whitney: MannWhitney = "asymptotic"
    chi_square: ChiSquare = "pearson"
    cumulative_incidence: CumulativeIncidence = "cuminc"
    consolidative_hsct: ConsolidativeHsct = "competing"


@entry
class SurvivalAnalysis:
    """Kaplan-Meier and log-rank per endpoint, for the whole cohort or per group of `by`."""

    name: str
    title: str
    endpoints: tuple[str, ...]
    by: str | None = None
    """A column of marts.patients: one curve per value, or per side of the cut-off."""
    cutoff: Literal["roc", "median"] | None = None
    """How a continuous `by` is split: roc (Youden; the median when the ROC AUC is not above
    settings.cutoff_min_roc_auc) or median."""
    group_order: tuple[str, ...] | None = None
    from_month: float | None = None
    """Landmark analysis: time counted from this month, among patients still event-free and followed
    then (a value measured at month 3 cannot group patients who failed earlier)."""


@entry
class FollowUpAnalysis:
    """Median follow-up by reverse Kaplan-Meier, per endpoint, whole cohort and by `by`."""

    name: str
    endpoints: tuple[str, ...]
    by: str | None = None


@entry
class CoxAnalysis:
    """A Cox proportional-hazards model of one endpoint."""

    name: str
    endpoint: str
    factors: tuple[str, ...]
    reference: dict[str, str] = field(default_factory=dict)
    """Factor -> its reference level."""


@entry
class CompetingRiskAnalysis:
    """Cumulative incidence per cause of one endpoint (all patients, and per group of `by`), at the
    landmark months, with Gray's test between the groups."""

    name: str
    title: str
    endpoint: str
    causes: Annotated[dict[str, str], Field(min_length=1)]
    """Cause code -> label, in the order shown; the other causes of the endpoint still compete."""
    by: str | None = None
    group_order: tuple[str, ...] | None = None
    after_table: str | None = None
    """The report shows this analysis's table after this one of `tables`."""


@entry
class CompetingRiskRegression:
    """Fine-Gray and cause-specific Cox models of one cause of an endpoint."""

    name: str
    endpoint: str
    cause: str
    factors: tuple[str, ...]
    reference: dict[str, str] = field(default_factory=dict)


@entry
class TableRow:
    """One row of a table: count (n (%) where `column` is true or equals `level`), levels (n (%) per
    level, one test), median_range, median_ci, km_median (of `endpoint`, log-rank) or heading."""

    label: str
    kind: RowKind
    column: str | None = None
    level: Any = None
    levels: tuple[Any, ...] | None = None
    endpoint: str | None = None
    test: Literal["none"] | None = None
    """none: the row is printed without a p-value."""
    where: str | None = None
    """A pandas query: the row counts only the patients matching it."""

    @model_validator(mode="after")
    def _has_what_its_kind_reads(self):
        if self.kind == "km_median" and not self.endpoint:
            raise ValueError("km_median needs an endpoint")
        if self.kind not in {"heading", "km_median"} and not self.column:
            raise ValueError(f"kind {self.kind} needs a column")
        return self


@entry
class TableSpec:
    """A table of group comparisons, laid out as the paper's. The plan fills in what a table leaves
    out: its name as title, the study's compare_by and group_order."""

    name: str
    title: str | None = None
    by: str | None = None
    group_order: tuple[str, ...] | None = None
    rows: tuple[TableRow, ...] = ()


class Study(BaseModel):
    model_config = STRICT
    title: str
    reference: str = ""
    compare_by: str
    """The column whose groups the tables compare."""
    group_order: tuple[str, ...]


class Settings(BaseModel):
    model_config = STRICT
    landmark_months: tuple[float, ...]
    """Survival and cumulative incidence at these times, with CI."""
    rmst_tau_months: float
    """Restricted mean survival time horizon."""
    cutoff_min_roc_auc: float
    """A ROC cut-off is used only when the ROC AUC is above this; otherwise the median."""
    at_risk_every_months: float
    """Numbers-at-risk columns under KM figures."""
    ci_bands: StrictBool = False
    """Shade each KM curve's 95 % CI (survminer's conf.int; off by default, as there)."""


class Panel(BaseModel):
    """One image of a figure: {km: <survival analysis>, endpoint}, {box: <table>, columns},
    {kinetics: <column>}, {cif: <competing-risk analysis>, cause} (its groups' curves) or
    {cif: <analysis>, stacked: true} (every cause stacked, all patients)."""

    model_config = STRICT
    km: str | None = None
    endpoint: str | None = None
    box: str | None = None
    columns: tuple[str, ...] | None = None
    kinetics: str | None = None
    cif: str | None = None
    cause: str | None = None
    stacked: StrictBool = False

    @model_validator(mode="after")
    def _one_kind(self):
        if sum(kind is not None for kind in (self.km, self.box, self.kinetics, self.cif)) != 1:
            raise ValueError("a panel is one of km, box, kinetics or cif")
        if self.km is not None and not self.endpoint:
            raise ValueError("a km panel needs an endpoint")
        if self.box is not None and not self.columns:
            raise ValueError("a box panel needs its columns")
        if self.cif is not None and (self.cause is None) != self.stacked:
            raise ValueError("a cif panel shows one `cause` or is `stacked`")
        return self


class Figure(BaseModel):
    model_config = STRICT
    id: str
    caption: str
    panels: tuple[Panel, ...]


NAMED_SECTIONS = ("survival", "follow_up", "cox", "tables", "competing_risks", "competing_risk_regression")


class AnalysesFile(BaseModel):
    """The study's analysis plan (analyses.yml): what the statistics assets compute into
    `analytics.*` and what the study report shows."""

    model_config = STRICT
    study: Study
    labels: dict[str, dict[Value, str]] = {}
    """How values print in tables and figures: column -> value -> label."""
    settings: Settings
    conventions: Conventions = Conventions()
    """Where R and SPSS define a statistic differently, which definition to follow."""
    survival: tuple[SurvivalAnalysis, ...] = ()
    follow_up: tuple[FollowUpAnalysis, ...] = ()
    cox: tuple[CoxAnalysis, ...] = ()
    competing_risks: tuple[CompetingRiskAnalysis, ...] = ()
    competing_risk_regression: tuple[CompetingRiskRegression, ...] = ()
    tables: tuple[TableSpec, ...] = ()
    figures: tuple[Figure, ...] = ()

    @model_validator(mode="after")
    def _names_are_unique(self):
        """An analysis's rows in analytics.* carry its name: two of one name would mix."""
        for section in NAMED_SECTIONS:
            seen = set()
            for i, item in enumerate(getattr(self, section)):
                if item.name in seen:
                    raise ValueError(f"{section}[{i}]: duplicate analysis name {item.name!r}")
                seen.add(item.name)
        return self

    @model_validator(mode="after")
    def _references_exist(self):
        tables = {t.name for t in self.tables}
        for i, a in enumerate(self.competing_risks):
            if a.after_table is not None and a.after_table not in tables:
                raise ValueError(f"competing_risks[{i}].after_table ({a.name}): no table named {a.after_table!r}")
        survival = {a.name for a in self.survival}
        competing = {a.name: a for a in self.competing_risks}
        for i, figure in enumerate(self.figures):
            for j, panel in enumerate(figure.panels):
                where = f"figures[{i}].panels[{j}] (figure {figure.id})"
                if panel.km is not None and panel.km not in survival:
                    raise ValueError(f"{where}: no survival analysis named {panel.km!r}")
                if panel.box is not None and panel.box not in tables:
                    raise ValueError(f"{where}: no table named {panel.box!r}")
                if panel.cif is not None and panel.cif not in competing:
                    raise ValueError(f"{where}: no competing-risk analysis named {panel.cif!r}")
                if panel.cif is not None and panel.cause is not None and panel.cause not in competing[panel.cif].causes:
                    raise ValueError(f"{where}: {panel.cause!r} is not a cause of {panel.cif}")
        return self

"""The suites under `expectations/suites/*.yml`, read into plain objects.

A suite file names the table it guards (a Dagster asset key), its scope (`batch`: only the
rows of newly landed files, so a night costs in proportion to what landed; `table`: the
whole mart), the SQL that reads the frame GX validates (projected to the columns it needs),
and its expectations. Each expectation carries its severity (`blocking`: the statistics
must not run on it; `warn`: reported) and why, next to it; an argument written
`{study_parameter: <name>}` is that row of the study_parameters seed (a threshold written once). A blocking expectation may name what
it `blocks`: the `marts.patients` columns whose values it vouches for. Its failure then blocks
only the analyses and report sections that read one of them; without `blocks` it blocks all.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cartwh.contract.reference import study_parameter
from cartwh.yaml_models import read

SUITES_DIR = Path(__file__).resolve().parent / "suites"
Severity = Literal["blocking", "warn"]
Scope = Literal["batch", "table"]
SEVERITIES = set(get_args(Severity))
SCOPES = set(get_args(Scope))
REPORTED_KEYS = ("patient_key", "file", "source_row")  # how a failing row is named in reports


class SuiteError(ValueError):
    """A suite file is inconsistent; the message names the file and the expectation."""


class Expectation(BaseModel):
    """One expectation: the GX class it runs (`expect`), its arguments (every key not named here,
    passed to GX as written: GX checks its own arguments), its severity and why."""

    # Unknown keys are allowed: they are the GX arguments (what GX accepts is for GX to say).
    model_config = ConfigDict(frozen=True, extra="allow", use_attribute_docstrings=True)
    type: str = Field(alias="expect")
    """A GX 1.x expectation class name, e.g. ExpectColumnValuesToBeBetween."""
    severity: Severity
    """blocking: the statistics must not run on a failure; warn: it is reported."""
    why: str
    when: dict[str, Any] | None = Field(None, min_length=1, max_length=1)
    """The rows it applies to: {column: value} (equality) or {column: present}, e.g. {crp_unit: mg/dL}."""
    show: str | None = None
    """The column reports print for a failing row, when not the checked one."""
    blocks: tuple[str, ...] | None = Field(None, min_length=1)
    """The marts.patients columns a blocking expectation vouches for; without it, it blocks everything."""

    @model_validator(mode="before")
    @classmethod
    def _study_parameters(cls, entry: Any) -> Any:
        """A threshold written once, in its seed: an argument {study_parameter: <name>} is that row's value."""
        if not isinstance(entry, dict):
            return entry
        named = {"expect", *cls.model_fields}
        try:
            return {
                k: study_parameter(v["study_parameter"]) if isinstance(v, dict) and k not in named else v
                for k, v in entry.items()
            }
        except (KeyError, StopIteration):
            raise ValueError("an argument names no row of the study_parameters seed") from None

    @model_validator(mode="after")
    def _blocks_only_when_blocking(self):
        if self.blocks is not None and self.severity != "blocking":
            raise ValueError("`blocks` lists the marts.patients columns a blocking expectation vouches for")
        return self

    @property
    def kwargs(self) -> dict:
        """The GX arguments."""
        return dict(self.model_extra or {})

    @property
    def blocks_everything(self) -> bool:
        return self.severity == "blocking" and self.blocks is None

    @property
    def column(self) -> str:
        return self.kwargs.get("column") or f"{self.kwargs.get('column_A')} vs {self.kwargs.get('column_B')}"


class Suite(BaseModel):
    """A suite file of expectations/suites/: the table it guards and what GX checks of it."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)
    name: str = Field(alias="suite")
    guards: str
    """The asset key path of the table, e.g. raw/redcap_laboratory."""
    scope: Scope
    """batch: only the rows of newly landed files; table: the whole table."""
    sql: str
    """The frame GX validates, projected to the columns it needs."""
    expectations: tuple[Expectation, ...] = ()
    needs: tuple[str, ...] = ()
    """Other assets the SQL reads, which must be materialized first."""

    @property
    def blocking(self) -> bool:
        return any(e.severity == "blocking" for e in self.expectations)


def read_suite(path: Path) -> Suite:
    return read(Suite, path, SuiteError)


@cache
def all_suites(directory: Path = SUITES_DIR) -> tuple[Suite, ...]:
    suites = tuple(read_suite(p) for p in sorted(directory.glob("*.yml")))
    names = [s.name for s in suites]
    if len(set(names)) != len(names):
        raise SuiteError(f"duplicate suite names in {directory}")
    return suites

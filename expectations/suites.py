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

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from cartwh.contract.reference import study_parameter

SUITES_DIR = Path(__file__).resolve().parent / "suites"
SEVERITIES = {"blocking", "warn"}
SCOPES = {"batch", "table"}
REPORTED_KEYS = ("patient_key", "file", "source_row")  # how a failing row is named in reports


class SuiteError(ValueError):
    """A suite file is inconsistent; the message names the file and the expectation."""


@dataclass(frozen=True)
class Expectation:
    type: str  # a GX 1.x expectation class name, e.g. ExpectColumnValuesToBeBetween
    kwargs: dict
    severity: str
    why: str
    # Rows the expectation applies to: {"column": value} (equality) or {"column": "present"}.
    when: dict | None = None
    show: str | None = None  # the column reports print for a failing row, when not the checked one
    blocks: tuple[str, ...] | None = None  # marts.patients columns it vouches for; None: everything

    @property
    def blocks_everything(self) -> bool:
        return self.severity == "blocking" and self.blocks is None

    @property
    def column(self) -> str:
        return self.kwargs.get("column") or f"{self.kwargs.get('column_A')} vs {self.kwargs.get('column_B')}"


@dataclass(frozen=True)
class Suite:
    name: str
    guards: str  # asset key path, "raw/redcap_laboratory"
    scope: str
    sql: str
    expectations: tuple[Expectation, ...] = field(default_factory=tuple)
    needs: tuple[str, ...] = ()  # other assets the SQL reads, which must be materialized first

    @property
    def blocking(self) -> bool:
        return any(e.severity == "blocking" for e in self.expectations)


def _expectation(entry: dict, where: str) -> Expectation:
    entry = dict(entry)
    try:
        kind, severity, why = entry.pop("expect"), entry.pop("severity"), entry.pop("why")
    except KeyError as missing:
        raise SuiteError(f"{where}: every expectation needs {missing}") from None
    if severity not in SEVERITIES:
        raise SuiteError(f"{where}: severity {severity!r} is not one of {sorted(SEVERITIES)}")
    when, show, blocks = entry.pop("when", None), entry.pop("show", None), entry.pop("blocks", None)
    try:  # a threshold written once, in its seed: {study_parameter: <name>}
        entry = {k: study_parameter(v["study_parameter"]) if isinstance(v, dict) else v for k, v in entry.items()}
    except (KeyError, StopIteration):
        raise SuiteError(f"{where}: an argument names no row of the study_parameters seed") from None
    if blocks is not None and (severity != "blocking" or not isinstance(blocks, list) or not blocks):
        raise SuiteError(f"{where}: `blocks` lists the marts.patients columns a blocking expectation vouches for")
    if when is not None and (not isinstance(when, dict) or len(when) != 1):
        raise SuiteError(f"{where}: `when` takes one column and its value, e.g. {{crp_unit: mg/dL}}")
    return Expectation(kind, entry, severity, why, when, show, tuple(blocks) if blocks else None)


def read_suite(path: Path) -> Suite:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if document.get("scope") not in SCOPES:
        raise SuiteError(f"{path.name}: scope must be one of {sorted(SCOPES)}")
    expectations = tuple(
        _expectation(e, f"{path.name} expectation {i + 1}") for i, e in enumerate(document.get("expectations", []))
    )
    return Suite(
        document["suite"],
        document["guards"],
        document["scope"],
        document["sql"],
        expectations,
        tuple(document.get("needs", [])),
    )


@cache
def all_suites(directory: Path = SUITES_DIR) -> tuple[Suite, ...]:
    suites = tuple(read_suite(p) for p in sorted(directory.glob("*.yml")))
    names = [s.name for s in suites]
    if len(set(names)) != len(names):
        raise SuiteError(f"duplicate suite names in {directory}")
    return suites

"""One result per model for its dbt data tests: what a night reports to Dagster of them.

A build of this project runs about 300 data tests on about 50 models and seeds. Reported one Dagster
asset check per test (dagster-dbt's default), each test costs three records in Dagster's event log
(the check planned, its output, its evaluation), each committed to SQLite on its own: about 900
commits, 11 s of a 24-patient night's CPU and about 15 s of a 10,000-patient night's
(docs/scaling.md, "Fixed costs of a night"). So each tested model or seed has one check, `dbt_tests`,
that ends when its last test has: it fails when one of its tests failed or errored (blocking) or
warned, and it names each test that did not pass. Which rows failed and what to do about them stay
where they were: the data-quality pages list every test from dbt's run_results.json
(cartwh/quality/dbt_tests.py).

A test belongs to the node it is attached to (a generic test on a model's column), else to each
model or seed it reads (a singular test: one that reads several, like the absolute-count
cross-check, counts for each of them). A test of a source belongs to no model and is left out here.
Plain logic over dbt's manifest and its structured log events: no Dagster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CHECK = "dbt_tests"  # the check's name on each tested model and seed
DESCRIPTION = (
    "Every dbt data test of this model or seed (dbt_project/models/*.yml, dbt_project/tests/), one result "
    "for all: failed (blocking) if one failed, warned if one warned; its metadata names each test that did "
    "not pass, and the data-quality report lists their failing rows."
)
TESTED = ("model.", "seed.", "snapshot.")
NOT_PASSED = ("warn", "fail", "error")
BLOCKING = ("fail", "error")
SHOWN = 10  # tests named in a check's description; its metadata lists them all


@dataclass(frozen=True)
class DbtTestResult:
    unique_id: str
    name: str
    status: str  # dbt's: pass, warn, fail, error
    failures: int | None = None  # failing rows (dbt's num_failures)

    def describe(self) -> str:
        rows = f", {self.failures:,} row(s)" if self.failures else ""
        return f"{self.name} ({self.status}{rows})"


@dataclass(frozen=True)
class ModelTests:
    """How a model's tests ended in one build: its `dbt_tests` check's result."""

    model: str  # the model's or seed's unique id
    results: tuple[DbtTestResult, ...]
    expected: int  # its tests in the project: those beyond `results` did not run (skipped, not selected)

    @property
    def not_passed(self) -> list[DbtTestResult]:
        return [r for r in self.results if r.status in NOT_PASSED]

    @property
    def passed(self) -> bool:
        return not self.not_passed

    @property
    def blocking(self) -> bool:
        return any(r.status in BLOCKING for r in self.results)

    @property
    def warned_only(self) -> bool:
        """Some test warned and none failed: the check warns, it does not block."""
        return not self.passed and not self.blocking

    def describe(self) -> str:
        ran = f"{len(self.results)} of {self.expected}" if len(self.results) < self.expected else f"{self.expected}"
        if self.passed:
            return f"{ran} dbt tests passed"
        named = "; ".join(r.describe() for r in self.not_passed[:SHOWN])
        more = f"; and {len(self.not_passed) - SHOWN} more" if len(self.not_passed) > SHOWN else ""
        return f"{len(self.not_passed)} of {ran} dbt tests did not pass: {named}{more}"

    def metadata(self) -> dict[str, Any]:
        return {
            "tests run": len(self.results),
            "tests in the project": self.expected,
            "warned": sum(r.status == "warn" for r in self.results),
            "failed": sum(r.status in BLOCKING for r in self.results),
            "not passed": "\n".join(r.describe() for r in self.not_passed) or "none",
            # every test that ran, one name a line: a test that reads several models is named by each
            "tests": "\n".join(sorted(r.name for r in self.results)),
        }


def owners(test: Mapping[str, Any]) -> list[str]:
    """The models and seeds a test node's result counts for."""
    attached = test.get("attached_node")
    parents = [attached] if attached else test.get("depends_on", {}).get("nodes", [])
    return [p for p in parents if p.startswith(TESTED)]


def model_tests_of(manifest: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Model or seed unique id -> the unique ids of the data tests that count for it."""
    found: dict[str, list[str]] = {}
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] == "test":
            for owner in owners(node):
                found.setdefault(owner, []).append(unique_id)
    return {model: tuple(sorted(tests)) for model, tests in found.items()}


def dbt_test_result(raw_event: Mapping[str, Any]) -> DbtTestResult | None:
    """The result a structured dbt log event (`--log-format json`) reports for a data test, or None."""
    if raw_event.get("info", {}).get("name") != "LogTestResult":
        return None
    data = raw_event["data"]
    node = data.get("node_info", {})
    return DbtTestResult(
        node["unique_id"], data.get("name") or node["node_name"], data["status"], data.get("num_failures")
    )


class ModelTestsTally:
    """Takes a build's test results as they come and hands back each model's summary as soon as its
    last test has ended; `rest()` at the end of the build gives the models not all of whose tests ran."""

    def __init__(self, manifest: Mapping[str, Any]):
        self.expected = model_tests_of(manifest)
        self.owners = {test: owners(manifest["nodes"][test]) for tests in self.expected.values() for test in tests}
        self.seen: dict[str, dict[str, DbtTestResult]] = {}
        self.reported: set[str] = set()

    def record(self, result: DbtTestResult) -> list[ModelTests]:
        done = []
        for model in self.owners.get(result.unique_id, ()):
            if model in self.reported:
                continue
            seen = self.seen.setdefault(model, {})
            seen[result.unique_id] = result
            if len(seen) == len(self.expected[model]):
                done.append(self._summary(model))
        return done

    def rest(self) -> list[ModelTests]:
        return [self._summary(model) for model in list(self.seen) if model not in self.reported]

    def _summary(self, model: str) -> ModelTests:
        self.reported.add(model)
        return ModelTests(model, tuple(self.seen[model].values()), len(self.expected[model]))

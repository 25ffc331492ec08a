"""The reference data the dbt seeds hold (dbt_project/seeds), read by Python where it needs the
same values: each value is written once, in its seed, with the source it cites."""

from __future__ import annotations

import csv
from functools import cache

from cartwh.settings import PROJECT_ROOT

SEEDS = PROJECT_ROOT / "dbt_project" / "seeds"


@cache
def seed_rows(name: str) -> tuple[dict[str, str], ...]:
    """The rows of seed `name` (e.g. 'timepoint_windows'), as text, in file order."""
    with open(SEEDS / f"{name}.csv", newline="", encoding="utf-8") as handle:
        return tuple(csv.DictReader(handle))


def study_parameter(name: str) -> float:
    """A value of the study_parameters seed (as the `study_parameter` dbt macro reads it)."""
    return next(float(r["value"]) for r in seed_rows("study_parameters") if r["parameter"] == name)

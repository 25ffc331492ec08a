"""The synthetic cohorts' reference values are the seeds' (dbt_project/seeds, read here as CSV):
the generator draws each designed Hematotox point's pre-LD lab value inside that point's band of
hematotox_bands, writes the alternative lab units with the inverse of unit_conversions' factor,
and the contract's timepoints and days per month are the timepoint_windows and study_parameters
rows. A seed edited without the generator (or the other way round) fails here."""

from __future__ import annotations

import csv

import pytest

from cartwh.contract.cytometry import DAYS_PER_MONTH, PRE_INFUSION_TIMEPOINTS, TIMEPOINT_DAYS
from cartwh.generate.timeline import _UNITS, PRE_LD_LAB_RANGES
from tests.paths import SEEDS

SEED_ANALYTE = {"anc": "anc", "hb": "hemoglobin", "crp": "crp"}  # the generator's field -> the seed's analyte


def _seed(name: str) -> list[dict[str, str]]:
    with open(SEEDS / f"{name}.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _in_band(value: float, band: dict[str, str]) -> bool:
    above = not band["lower"] or (
        value >= float(band["lower"]) if band["lower_inclusive"] == "true" else value > float(band["lower"])
    )
    below = not band["upper"] or (
        value <= float(band["upper"]) if band["upper_inclusive"] == "true" else value < float(band["upper"])
    )
    return above and below


@pytest.mark.parametrize("component", sorted(PRE_LD_LAB_RANGES))
def test_each_designed_point_is_drawn_inside_its_seed_band(component):
    bands = {int(b["points"]): b for b in _seed("hematotox_bands") if b["component"] == component}
    assert set(PRE_LD_LAB_RANGES[component]) == set(bands)
    for points, (low, high) in PRE_LD_LAB_RANGES[component].items():
        # The ends as drawn and as exported (rounded to two decimals, platelets to whole numbers).
        digits = 0 if component == "platelets" else 2
        for value in (low, high, round(low, digits), round(high, digits)):
            assert _in_band(value, bands[points]), (component, points, value)


def test_the_alternative_units_are_the_seeds_inverse_factors():
    conversions = {(c["analyte"], c["unit_code"]): float(c["factor_to_standard"]) for c in _seed("unit_conversions")}
    assert set(_UNITS) == set(SEED_ANALYTE)
    for field, (standard, alternative, factor) in _UNITS.items():
        assert conversions[(SEED_ANALYTE[field], standard)] == 1.0
        assert conversions[(SEED_ANALYTE[field], alternative)] == pytest.approx(1 / factor)


def test_the_contracts_timepoints_and_month_are_the_seeds():
    windows = _seed("timepoint_windows")
    assert TIMEPOINT_DAYS == {w["timepoint"]: int(w["nominal_day"]) for w in windows if w["nominal_day"]}
    assert PRE_INFUSION_TIMEPOINTS == ("APHERESIS", "PRE_LD")
    assert TIMEPOINT_DAYS["D28"] == 28 and TIMEPOINT_DAYS["M3"] == 91  # docs/definitions.md
    assert (
        DAYS_PER_MONTH
        == 30.4375
        == next(float(p["value"]) for p in _seed("study_parameters") if p["parameter"] == "days_per_month")
    )

"""Resources: the warehouse, the landing folder and dbt (cartwh.settings decides where)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from assets.transformations import DBT_PROJECT
from cartwh import settings


class LandingZone(dg.ConfigurableResource):
    """The folder exports land in, and the archive every ingested version is kept in."""

    landing: str
    archive: str


class StudyPlan(dg.ConfigurableResource):
    """The analysis plan the statistics follow, and where the study report is written."""

    analyses: str
    reports: str


def default_resources() -> dict[str, object]:
    # dbt's profiles.yml reads the same variable, so dbt writes into the warehouse Dagster ingests into.
    os.environ["CARTWH_WAREHOUSE"] = str(settings.warehouse_path())
    return {
        "warehouse": DuckDBResource(database=str(settings.warehouse_path())),
        # The dbt installed beside this interpreter: `make` does not put the venv on PATH.
        "dbt": DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=str(Path(sys.executable).with_name("dbt"))),
        "landing_zone": LandingZone(landing=str(settings.landing_dir()), archive=str(settings.archive_dir())),
        "study_plan": StudyPlan(analyses=str(settings.analyses_path()), reports=str(settings.report_dir())),
    }

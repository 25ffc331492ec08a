"""Resources: the warehouse, the landing folder and dbt (cartwh.settings decides where)."""

from __future__ import annotations

import os
from contextlib import contextmanager
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from assets.transformations import DBT_PROJECT
from cartwh import settings
from cartwh.locking import writer_lock
from cartwh.permissions import pipeline_file_modes
from orchestration.run_summary import close_run, open_run


class Warehouse(DuckDBResource):
    """The working warehouse, and where it is published for analysts.

    Unlike dagster-duckdb's resource, a run holds the writer lock for its whole duration (the
    main job runs in one process, so the resource is set up once per run) and the connection
    is also closed when a step fails: dagster-duckdb closes it only on success, and a
    connection left open locks the file for the rest of the process. Under that lock the run
    opens and closes its record (orchestration.run_summary): a damaged warehouse is refused at
    the start, and every run that does not publish is recorded as it ends."""

    published: str

    @contextmanager
    def yield_for_execution(self, context):
        warehouse = Path(self.database)
        with pipeline_file_modes(), writer_lock(warehouse):
            open_run(warehouse, context.run.run_id)
            try:
                yield self
            finally:
                close_run(context.instance, context.run.run_id, warehouse, Path(self.published))

    @contextmanager
    def get_connection(self):
        with super().get_connection() as con:
            try:
                yield con
            finally:
                con.close()


class LandingZone(dg.ConfigurableResource):
    """The folder exports land in, and the archive every ingested version is kept in."""

    landing: str
    archive: str


class StudyPlan(dg.ConfigurableResource):
    """The analysis plan the statistics follow, and where the study report is written."""

    analyses: str
    reports: str


class DataQuality(dg.ConfigurableResource):
    """Where Great Expectations works (its file-mode project and Data Docs) and where the
    data-quality report is written."""

    gx_root: str
    reports: str


def default_resources() -> dict[str, object]:
    # dbt's profiles.yml reads the same variables, so dbt writes into the warehouse Dagster ingests
    # into, under the same memory ceiling.
    os.environ["CARTWH_WAREHOUSE"] = str(settings.warehouse_path())
    os.environ["CARTWH_DUCKDB_MEMORY"] = settings.duckdb_memory_limit()
    return {
        "warehouse": Warehouse(database=str(settings.warehouse_path()), published=str(settings.published_path()),
                               connection_config={"memory_limit": settings.duckdb_memory_limit()}),
        # The dbt installed beside this interpreter: `make` does not put the venv on PATH.
        "dbt": DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=str(Path(sys.executable).with_name("dbt"))),
        "landing_zone": LandingZone(landing=str(settings.landing_dir()), archive=str(settings.archive_dir())),
        "data_quality": DataQuality(gx_root=str(settings.quality_dir()), reports=str(settings.report_dir())),
        "study_plan": StudyPlan(analyses=str(settings.analyses_path()), reports=str(settings.report_dir())),
    }

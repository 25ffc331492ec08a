"""The resources the assets take (as dagster-open-platform's `resources.py`): what each one is,
not where its paths come from; orchestration/resources.py fills them from cartwh.settings."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from importlib import metadata
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource
from packaging import version

from cartwh.dbt.target import start_from_project_parse
from cartwh.night.closing import QualityPages, close_night
from cartwh.night.locking import writer_lock
from cartwh.night.run_events import open_run
from cartwh.warehouse.connection import connect
from cartwh.warehouse.permissions import pipeline_file_modes
from cartwh.warehouse.publish import copy_folder


class DataQuality(dg.ConfigurableResource):
    """Where Great Expectations works (its file-mode project and Data Docs), where the analysts'
    data-quality page is written, and the restricted folder of the data manager's report, which
    reads the record map kept in the archive."""

    gx_root: str
    reports: str
    restricted: str
    archive: str

    def pages(self) -> QualityPages:
        return QualityPages(Path(self.reports), Path(self.gx_root), Path(self.restricted), Path(self.archive))


class Warehouse(DuckDBResource):
    """The working warehouse, and where it is published for analysts.

    Unlike dagster-duckdb's resource, every connection reaches no file but the warehouse, the
    archive and the analysts' copy being written, a run holds the writer lock for its whole duration (the
    main job runs in one process, so the resource is set up once per run) and the connection
    is also closed when a step fails: dagster-duckdb closes it only on success, and a
    connection left open locks the file for the rest of the process. Under that lock the run
    opens its record (cartwh.night.run_events: a damaged warehouse is refused at the start) and,
    whatever its outcome, closes the night (cartwh.night.closing: its record, then the
    data-quality pages), said in the run's log."""

    published: str
    data_quality: DataQuality
    spark_dir: str = ""  # on the spark engine: the Parquet hand-over and take-back folder

    @contextmanager
    def yield_for_execution(self, context):
        warehouse = Path(self.database)
        with pipeline_file_modes(), writer_lock(warehouse):
            open_run(warehouse, context.run.run_id)
            try:
                yield self
            finally:
                closed = close_night(
                    context.instance,
                    context.run.run_id,
                    warehouse,
                    Path(self.published),
                    self.data_quality.pages(),
                    self.get_connection,
                )
                context.log.info(closed.describe())

    @contextmanager
    def get_connection(self):
        """Confined (cartwh.warehouse.connection.confine) to what a run reads and writes besides the warehouse:
        the archive, the analysts' copy while it is written (cartwh.warehouse.publish) and, on Spark, the
        hand-over folder (cartwh.spark.handover)."""
        folders = [Path(self.data_quality.archive), copy_folder(Path(self.published))]
        folders += [Path(self.spark_dir)] if self.spark_dir else []
        con = connect(self.database, folders=folders)
        try:
            yield con
        finally:
            con.close()


class Dbt(DbtCliResource):
    """dbt, writing into the warehouse Dagster ingests into, under the same memory ceiling, on the
    engine chosen (duckdb, or spark with its folder: cartwh.settings.engine): profiles.yml reads
    them all from the environment of dbt's process. Its builds go to `target_dir`, in the data
    folder (cartwh.settings.dbt_target_dir). Its version is the dbt-core installed beside this
    interpreter (dagster-dbt would ask `dbt --version`, a process per run)."""

    warehouse: str
    memory_limit: str
    target_dir: str
    engine: str = "duckdb"
    spark_dir: str = ""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(metadata.version("dbt-core"))

    def cli(self, args: Sequence[str], **kwargs):
        # DbtCliResource builds the child's environment from os.environ and takes no env of its
        # own; the child is started inside cli(), so the values are set only around that call.
        # DBT_TARGET_PATH is where dagster-dbt puts each build's folder and looks for the parse to
        # start from (assets/transformations.py keeps each night's there).
        start_from_project_parse(Path(self.project_dir) / "target", Path(self.target_dir))
        with _environment(
            CARTWH_WAREHOUSE=self.warehouse,
            CARTWH_DUCKDB_MEMORY=self.memory_limit,
            CARTWH_ENGINE=self.engine,
            CARTWH_SPARK_DIR=self.spark_dir,
            DBT_TARGET_PATH=self.target_dir,
        ):
            return super().cli(args, **kwargs)


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class LandingZone(dg.ConfigurableResource):
    """The folder exports land in, and the archive every ingested version is kept in."""

    landing: str
    archive: str


class RedcapPull(dg.ConfigurableResource):
    """The sites whose REDCap projects the nightly job pulls through the API (none: no pull). The
    address and the tokens are read from the environment when the pull runs, never kept here."""

    sites: list[str] = []


class StudyPlan(dg.ConfigurableResource):
    """The analysis plan the statistics follow, and where the study report is written."""

    analyses: str
    reports: str

"""The resources of the code location, filled from cartwh.settings (the classes: assets/resources.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from assets.project import DBT_PROJECT
from assets.resources import DataQuality, Dbt, LandingZone, RedcapPull, StudyPlan, Warehouse
from cartwh import settings
from cartwh.pull.redcap import configured_sites


def default_resources() -> dict[str, object]:
    """Read from the environment when called, not at import: a test (or a bench run) that points
    CARTWH_DATA elsewhere gets resources of its own paths. Nothing here writes the environment."""
    warehouse, memory = str(settings.warehouse_path()), settings.duckdb_memory_limit()
    data_quality = DataQuality(
        gx_root=str(settings.quality_dir()),
        reports=str(settings.report_dir()),
        restricted=str(settings.data_manager_dir()),
        archive=str(settings.archive_dir()),
    )
    return {
        "warehouse": Warehouse(
            database=warehouse,
            published=str(settings.published_path()),
            data_quality=data_quality,
            spark_dir=str(settings.spark_dir()) if settings.engine() == "spark" else "",
        ),
        # The dbt installed beside this interpreter: `make` does not put the venv on PATH.
        "dbt": Dbt(
            project_dir=DBT_PROJECT,
            dbt_executable=str(Path(sys.executable).with_name("dbt")),
            warehouse=warehouse,
            memory_limit=memory,
            target_dir=str(settings.dbt_target_dir()),
            engine=settings.engine(),
            spark_dir=str(settings.spark_dir()),
        ),
        "landing_zone": LandingZone(landing=str(settings.landing_dir()), archive=str(settings.archive_dir())),
        "redcap": RedcapPull(sites=configured_sites()),
        "data_quality": data_quality,
        "study_plan": StudyPlan(analyses=str(settings.analyses_path()), reports=str(settings.report_dir())),
    }

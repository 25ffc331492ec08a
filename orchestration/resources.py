"""Resources: where the warehouse and the landing folder are (cartwh.settings decides)."""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource

from cartwh import settings


class LandingZone(dg.ConfigurableResource):
    """The folder exports land in, and the archive every ingested version is kept in."""

    landing: str
    archive: str


def default_resources() -> dict[str, object]:
    return {
        "warehouse": DuckDBResource(database=str(settings.warehouse_path())),
        "landing_zone": LandingZone(landing=str(settings.landing_dir()), archive=str(settings.archive_dir())),
    }

"""The code location: assembles assets, resources and jobs; nothing else happens here."""

from __future__ import annotations

import dagster as dg

from assets.checks import quality_checks
from assets.ingestion import raw_assets
from assets.publish import published_warehouse
from assets.pull import redcap_pull
from assets.statistics import study_report, study_statistics_asset
from assets.transformations import dbt_models
from orchestration.jobs import main_job
from orchestration.resources import default_resources
from orchestration.schedules import landing_arrivals, nightly, record_failed_run

defs = dg.Definitions(
    assets=[redcap_pull, *raw_assets(), dbt_models, study_statistics_asset(), study_report, published_warehouse],
    asset_checks=quality_checks(),
    jobs=[main_job],
    schedules=[nightly],
    sensors=[landing_arrivals, record_failed_run],
    resources=default_resources(),
)

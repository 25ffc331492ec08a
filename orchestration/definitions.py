"""The code location: assembles assets, resources and jobs; nothing else happens here."""

from __future__ import annotations

import dagster as dg

from assets.checks import quality_checks
from assets.ingestion import raw_assets
from assets.statistics import study_report, study_statistics
from assets.transformations import dbt_models
from orchestration.jobs import main_job
from orchestration.resources import default_resources

defs = dg.Definitions(
    assets=[*raw_assets, dbt_models, study_statistics, study_report],
    asset_checks=quality_checks,
    jobs=[main_job],
    resources=default_resources(),
)

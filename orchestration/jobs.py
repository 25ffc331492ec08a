"""Jobs: the main job materializes everything that exists (today: the raw layer)."""

from __future__ import annotations

import dagster as dg

MAIN_JOB = "cartwh_main"

# One process per run: DuckDB has one writer, and the warehouse resource (with its writer
# lock) is then set up once for the whole run.
main_job = dg.define_asset_job(
    MAIN_JOB,
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    description="Ingest landed exports, rebuild everything downstream, check, publish.",
)

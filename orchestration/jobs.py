"""Jobs: the main job materializes everything that exists (today: the raw layer)."""

from __future__ import annotations

import dagster as dg

MAIN_JOB = "cartwh_main"

main_job = dg.define_asset_job(MAIN_JOB, selection=dg.AssetSelection.all(),
                               description="Ingest landed exports and rebuild everything downstream.")  # fmt: skip

"""The code location loads: the main job and the raw assets are defined. (The ingestion assets
materialized on the demo cohort: tests/e2e/test_dagster_ingestion.py.)"""

import dagster as dg


def test_definitions_load():
    from orchestration.definitions import defs

    assert defs.resolve_job_def("cartwh_main") is not None
    assert dg.AssetKey(["raw", "cytometry_population_stats"]) in defs.resolve_all_asset_keys()

"""The dbt project as Dagster assets: seeds and models keyed `<schema>/<name>`, grouped by
layer; dbt sources keep the `raw/<table>` keys of the ingestion assets, so lineage runs
unbroken from export file to mart; each model's and seed's dbt data tests surface as one asset
check, `dbt_tests`, that names the tests that did not pass (cartwh/dbt/test_summaries.py says why
one per model rather than one per test). The project and its manifest: assets/project.py. The tests that warned or failed are kept for the data-quality
pages as the build ends, passed or not (cartwh/quality/dbt_tests.py says why from run_results.json);
then the older builds' folders in the data folder's dbt_target/ are removed, and the build's parse
is kept for the next night (cartwh/dbt/target.py).

On the spark engine the same assets and checks run on Spark: the raw layer is handed over as
Parquet before the build, and the marts and seeds it built are taken back into the warehouse
after it (cartwh/spark/handover.py), so everything downstream reads them as after a DuckDB build.
"""

from collections.abc import Mapping
from contextlib import closing, nullcontext
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, dbt_assets
from dagster_duckdb import DuckDBResource

from assets.project import DBT_PROJECT
from assets.resources import Dbt
from cartwh.dbt.target import keep_parse, prune_build_folders
from cartwh.dbt.test_summaries import CHECK, DESCRIPTION, ModelTests, ModelTestsTally, dbt_test_result
from cartwh.quality.dbt_tests import record_dbt_tests
from cartwh.spark.handover import built_tables, hand_over_raw, take_back
from cartwh.spark.session import SparkQuery


class LayeredTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props.get("schema")

    def get_asset_check_spec(self, asset_spec: dg.AssetSpec, manifest, unique_id, project) -> dg.AssetCheckSpec:
        """Every test of a model is the model's one `dbt_tests` check (dagster-dbt keeps one spec per name)."""
        return dg.AssetCheckSpec(CHECK, asset=asset_spec.key, description=DESCRIPTION)


class DbtNight(dg.Config):
    """`full_refresh`: rebuild the incremental models from the whole raw layer, not only from the
    file versions loaded or superseded since they were built (`cartwh run --full-refresh`)."""

    full_refresh: bool = False


@dbt_assets(manifest=DBT_PROJECT.manifest_path, project=DBT_PROJECT, dagster_dbt_translator=LayeredTranslator())
def dbt_models(context: dg.AssetExecutionContext, dbt: Dbt, warehouse: DuckDBResource, config: DbtNight):
    on_spark = dbt.engine == "spark"
    if on_spark:
        with warehouse.get_connection() as con:
            rows = hand_over_raw(con, Path(dbt.spark_dir))
        context.log.info(f"raw layer handed over to Spark as Parquet: {sum(rows.values())} rows in {len(rows)} tables")
    # dbt's unit tests test the SQL, not the night's data: the test suite runs them
    # (tests/e2e/test_marts_paper_counts.py), a night does not.
    args = ["build", "--exclude-resource-type", "unit_test"] + ["--full-refresh"] * config.full_refresh
    invocation = dbt.cli(args, context=context, raise_on_error=False)
    try:
        yield from _events(context, invocation)
        error = invocation.get_error()  # dbt ended with an error: after every result it had is reported
        if error is not None:
            raise error
    finally:
        if on_spark:
            _take_back(context, invocation, warehouse, Path(dbt.spark_dir))
        _keep_test_results(context, invocation, warehouse, Path(dbt.spark_dir) if on_spark else None)
        keep_parse(invocation.target_path)
        prune_build_folders(invocation.target_path.parent)  # each build's own folder: the newest few stay


def _events(context: dg.AssetExecutionContext, invocation):
    """dagster-dbt's events for the models and seeds built; for the tests, one `dbt_tests` result per
    model as its last test ends (and, at the end of the build, for the models not all of whose tests ran)."""
    tally = ModelTestsTally(invocation.manifest)
    for event in invocation.stream_raw_events():
        result = dbt_test_result(event.raw_event)
        if result is None:
            yield from event.to_default_asset_events(
                manifest=invocation.manifest,
                dagster_dbt_translator=invocation.dagster_dbt_translator,
                context=context,
                target_path=invocation.target_path,
                project=invocation.project,
            )
        else:
            yield from _check_results(context, invocation, tally.record(result))
    yield from _check_results(context, invocation, tally.rest())


def _check_results(context: dg.AssetExecutionContext, invocation, summaries: list[ModelTests]):
    wanted = context.selected_asset_check_keys
    for summary in summaries:
        key = dg.AssetCheckKey(
            invocation.dagster_dbt_translator.get_asset_spec(
                invocation.manifest, summary.model, invocation.project
            ).key,
            CHECK,
        )
        if key in wanted:  # a subset run: the checks of the models it selected
            yield dg.AssetCheckResult(
                asset_key=key.asset_key,
                check_name=CHECK,
                passed=summary.passed,
                severity=dg.AssetCheckSeverity.WARN if summary.warned_only else dg.AssetCheckSeverity.ERROR,
                description=summary.describe(),
                metadata=summary.metadata(),
            )


def _take_back(context: dg.AssetExecutionContext, invocation, warehouse: DuckDBResource, spark_dir: Path) -> None:
    if not (invocation.target_path / "run_results.json").exists():
        return
    built = built_tables(invocation.get_artifact("run_results.json"), invocation.get_artifact("manifest.json"))
    with warehouse.get_connection() as con:
        take_back(con, spark_dir, built)
    context.log.info(f"taken back from Spark into the warehouse: {', '.join(f'{s}.{t}' for s, t, _ in built)}")


def _keep_test_results(
    context: dg.AssetExecutionContext, invocation, warehouse: DuckDBResource, spark_dir: Path | None
) -> None:
    results = invocation.target_path / "run_results.json"
    if not results.exists():  # dbt stopped before it ran anything (interrupted, a parse error)
        return
    try:
        with warehouse.get_connection() as con, closing(SparkQuery(spark_dir)) if spark_dir else nullcontext() as query:
            kept = record_dbt_tests(
                con,
                context.run.run_id,
                invocation.get_artifact("run_results.json"),
                invocation.get_artifact("manifest.json"),
                query,
            )
    except Exception as error:  # the build's own outcome stands; the pages then lack its tests
        context.log.warning(
            f"the dbt tests that warned or failed could not be kept for the data-quality pages: {error}"
        )
        return
    context.log.info(f"dbt tests that warned or failed, kept for the data-quality pages: {kept}")

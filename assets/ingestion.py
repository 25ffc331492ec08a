"""Raw layer assets: one per raw table, fed from the landing folder. (No `from __future__ import
annotations` here: Dagster reads the context annotation at definition time.)

Each source's assets are one multi-asset because one pass over its files fills them all.
A file that cannot be read fails alone: the step completes with every other file loaded (each in
its own transaction), and so do the other sources' steps; the failure, kept in
raw.ingest_failures, stops the night at the source-health check (cartwh/ingest/failed_files.py).
"""

from functools import cache
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.pull import PULL_KEY
from assets.resources import LandingZone
from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.ingest.deletions import TABLE as DELETED_RECORDS
from cartwh.ingest.dictionary_tables import CHOICES, FIELDS, publish_dictionary
from cartwh.ingest.errors import IngestError, WarehouseLayoutError
from cartwh.ingest.fcs_loader import FCS_FILES
from cartwh.ingest.keys import check_pseudonym_key
from cartwh.ingest.load import IngestReport, ingest_source, merged
from cartwh.ingest.warehouse import quote_table
from cartwh.pseudonym import PseudonymKeyError
from cartwh.synthetic import SyntheticBesideReal
from cartwh.warehouse.schema import has_table
from cartwh.warehouse.unrecognised_files import summary as unrecognised_summary

GROUP = "raw"


def _key(table: str) -> dg.AssetKey:
    return dg.AssetKey(table.split("."))


def _spec(table: str, description: str, deps=()) -> dg.AssetSpec:
    # Every raw asset waits for the night's pull (assets/pull.py): a failed pull ingests nothing.
    return dg.AssetSpec(
        _key(table), description=description, group_name=GROUP, kinds={"duckdb"}, deps=[PULL_KEY, *deps]
    )


def _results(con, report: IngestReport, tables: list[str]):
    # Rows of tables that are not assets of their own (a site's raw.redcap_site_* tables): the
    # run's summary counts them too (orchestration.run_summary.rows_added).
    elsewhere = {t: n for t, n in report.rows.items() if t not in tables and n}
    for table in tables:
        total = (
            con.execute(f"SELECT count(*) FROM {quote_table(table)}").fetchall()[0][0] if has_table(con, table) else 0
        )
        yield dg.MaterializeResult(
            asset_key=_key(table),
            metadata={
                "rows_added": report.rows.get(table, 0),
                "rows_added_elsewhere": dg.MetadataValue.json(elsewhere),
                "rows_total": total,
                "files_loaded": len(report.files_loaded),
                "files_failed": len(report.failures),
                "files_already_ingested": len(report.files_skipped),
                "files_superseding_earlier_versions": len(report.files_superseding),
                "rows_quarantined": report.rows_quarantined,
                "files_still_being_written": len(report.files_still_being_written),
                "records_read": report.records_read,
                "rows_landed": report.rows_landed,
                "records_skipped": report.records_skipped,
                "files_unrecognised": len(report.files_unrecognised),
                # Counts by folder and kind, never the names (a landed name may hold an MRN).
                "unrecognised": unrecognised_summary(report.files_unrecognised) or "none",
            },
        )


def _ingest(context, warehouse: DuckDBResource, landing_zone: LandingZone, source: str, tables: list[str]):
    """Ingest `source`, or several sources one after the other (a tuple) that write into the same
    raw tables, reported together."""
    with warehouse.get_connection() as con:
        reports = []
        for name in (source,) if isinstance(source, str) else source:
            try:
                reports.append(
                    ingest_source(
                        con, Path(landing_zone.landing), name, Path(landing_zone.archive), raise_on_failure=False
                    )
                )
            except (PseudonymKeyError, SyntheticBesideReal, WarehouseLayoutError) as error:
                raise dg.Failure(str(error)) from None
            _log(context, reports[-1])
        report = merged(reports)
        if report.failures:  # kept in raw.ingest_failures: the source-health check stops the night
            context.log.error(str(IngestError(report.failures)))
        yield from _results(con, report, tables)


def _log(context, report: IngestReport) -> None:
    context.log.info(
        f"{report.source}: {len(report.files_loaded)} file(s) loaded, {len(report.files_skipped)} "
        f"already ingested, {report.rows_quarantined} row(s) quarantined"
    )
    for name in report.files_still_being_written:
        context.log.warning(f"{name} is still being written (it changed while it was read): left for the next run")
    if report.files_unrecognised:
        context.log.warning(f"{report.source}: {unrecognised_summary(report.files_unrecognised)}")


_DICTIONARY_TABLES = [FIELDS, CHOICES]


@dg.multi_asset(
    specs=[
        _spec(FIELDS, "Fields of the REDCap data dictionary (type, validation, identifier flag)."),
        _spec(CHOICES, "Codes and labels of every coded REDCap field, for decoding in staging."),
    ],
    name="raw_redcap_dictionary",
)
def raw_redcap_dictionary(warehouse: DuckDBResource):
    with warehouse.get_connection() as con:
        try:  # the run's first write: under another pseudonym key, nothing is written at all
            check_pseudonym_key(con)
        except PseudonymKeyError as error:
            raise dg.Failure(str(error)) from None
        counts = publish_dictionary(con, project_dictionary())
    for table in _DICTIONARY_TABLES:
        yield dg.MaterializeResult(asset_key=_key(table), metadata={"rows_total": counts[table]})


@dg.multi_asset(
    specs=[
        _spec(
            "raw.cytometry_population_stats",
            "Population statistics, one row per tube key x gate path x statistic: the lab's tables and its "
            "FCS files gated by FlowKit (cytometry_statistics_routes).",
            deps=[_key("raw.cytometry_samples")],
        ),
        _spec(
            FCS_FILES,
            "FCS files: the acquisition's keywords (cytometer, date, events, channels and markers, spillover) "
            "and the gating applied, one row per file version; the events stay in the archive.",
            deps=[_key("raw.cytometry_samples")],
        ),
    ],
    name="raw_cytometry_statistics",
)
def raw_cytometry_statistics(context: dg.AssetExecutionContext, warehouse: DuckDBResource, landing_zone: LandingZone):
    # The tables, then the FCS files: both write the population statistics (route table, gated).
    yield from _ingest(
        context,
        warehouse,
        landing_zone,
        ("cytometry_statistics", "cytometry_fcs"),
        ["raw.cytometry_population_stats", FCS_FILES],
    )


@cache
def raw_assets() -> tuple[dg.AssetsDefinition, ...]:
    """The raw layer's assets, built when the definitions are: the REDCap tables are the forms of
    the shipped dictionary, read then, not when this module is imported."""
    redcap_tables = [f"raw.redcap_{form}" for form in project_dictionary().forms]

    @dg.multi_asset(
        specs=[
            _spec(
                t,
                f"REDCap instrument '{t.removeprefix('raw.redcap_')}': typed rows of every export version, pseudonymised.",
                deps=[_key(FIELDS)],
            )
            for t in redcap_tables
        ],
        name="raw_redcap_records",
    )
    def raw_redcap_records(context: dg.AssetExecutionContext, warehouse: DuckDBResource, landing_zone: LandingZone):
        yield from _ingest(context, warehouse, landing_zone, "redcap", redcap_tables)

    @dg.multi_asset(
        # After the records: a tombstone hides the rows loaded before it (cartwh/ingest/deletions.py).
        specs=[
            _spec(
                DELETED_RECORDS,
                "Records deleted in REDCap (cartwh pull's deletion reports): one tombstone per "
                "record and report, which hides the record's earlier rows from staging.",
                deps=[_key(t) for t in redcap_tables],
            )
        ],
        name="raw_redcap_deletions",
    )
    def raw_redcap_deletions(context: dg.AssetExecutionContext, warehouse: DuckDBResource, landing_zone: LandingZone):
        yield from _ingest(context, warehouse, landing_zone, "redcap_deletions", [DELETED_RECORDS])

    @dg.multi_asset(
        # After the REDCap records: a manifest row is checked against its record's identifiers.
        specs=[
            _spec(
                "raw.cytometry_samples",
                "Sample manifests: tube key -> patient, specimen, date, timepoint, panel.",
                deps=[_key(t) for t in redcap_tables],
            )
        ],
        name="raw_cytometry_manifests",
    )
    def raw_cytometry_manifests(
        context: dg.AssetExecutionContext, warehouse: DuckDBResource, landing_zone: LandingZone
    ):
        yield from _ingest(context, warehouse, landing_zone, "cytometry_manifest", ["raw.cytometry_samples"])

    return (
        raw_redcap_dictionary,
        raw_redcap_records,
        raw_redcap_deletions,
        raw_cytometry_manifests,
        raw_cytometry_statistics,
    )

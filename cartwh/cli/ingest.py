"""`cartwh ingest`: the landing folder loaded into the raw layer, without Dagster."""

from __future__ import annotations

import sys

from cartwh import settings

HELP = "ingest the landing folder into the raw layer (no Dagster)"
DESCRIPTION = "Load new export files into the DuckDB raw schema."


def handle(args) -> int:
    import duckdb

    from cartwh.ingest.errors import IngestError
    from cartwh.ingest.load import SOURCES, ingest_source
    from cartwh.ingest.warehouse import connect
    from cartwh.night.failures import WarehouseDamaged, check_working_warehouse, describe
    from cartwh.night.locking import writer_lock
    from cartwh.pseudonym import PseudonymKeyError
    from cartwh.synthetic import SyntheticBesideReal
    from cartwh.warehouse.unrecognised_files import summary as unrecognised_summary

    failed = False
    with writer_lock(settings.warehouse_path()):
        try:
            check_working_warehouse(settings.warehouse_path())
        except WarehouseDamaged as error:
            print(error, file=sys.stderr)
            return 1
        con = connect(settings.warehouse_path())
        for source in SOURCES:
            try:
                report = ingest_source(con, settings.landing_dir(), source, settings.archive_dir())
            except (PseudonymKeyError, SyntheticBesideReal) as error:  # nothing was ingested: no other source may be
                print(error, file=sys.stderr)
                con.close()
                return 1
            except IngestError as error:
                print(error, file=sys.stderr)
                failed = True
                continue
            except (OSError, duckdb.Error) as error:  # a full disk, a damaged file: one sentence
                print(f"{source}: {describe(str(error), where=settings.warehouse_path())}", file=sys.stderr)
                failed = True
                continue
            print(
                f"{source}: {len(report.files_loaded)} file(s) loaded, {len(report.files_skipped)} already ingested, "
                f"{sum(report.rows.values()):,} rows added, {report.rows_quarantined} quarantined; records read "
                f"{report.records_read:,} = {report.rows_landed:,} landed + {report.rows_quarantined:,} "
                f"quarantined + {report.records_skipped:,} skipped"
            )
            for name in report.files_still_being_written:
                print(f"{source}: {name} is still being written: left for the next run")
            if report.files_unrecognised:
                print(f"{source}: {unrecognised_summary(report.files_unrecognised)}")
        con.close()
    return 1 if failed else 0

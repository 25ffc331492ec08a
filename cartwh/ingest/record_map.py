"""The record map (cartwh.warehouse.record_ids: what it is, where it lives, how it is read),
written at ingestion: `remember_batch` adds each batch's patients and the REDCap coordinates of
its problem rows, before the batch commits."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from cartwh.contract.redcap import EVENT, REPEAT_INSTANCE, REPEAT_INSTRUMENT
from cartwh.ingest.csv_reader import ROWS, ExportFile
from cartwh.ingest.keys import ROW_KEYS
from cartwh.ingest.validation import PROBLEMS
from cartwh.warehouse.permissions import make_private
from cartwh.warehouse.record_ids import map_path
from cartwh.warehouse.schema import RECORD_MAP, ensure_schema


def remember_batch(con: duckdb.DuckDBPyConnection, files: list[ExportFile], archive: Path) -> None:
    """Add the batch's patients (from the row keys) and the REDCap coordinates of its problem rows.
    A loader that reads no CSV rows (or names no patient) leaves the temp tables out: nothing to add."""
    temporary = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}
    if not {ROW_KEYS, ROWS, PROBLEMS} <= temporary:
        return
    patients = con.execute(
        f"SELECT DISTINCT patient_key, site, record_id FROM {ROW_KEYS} "
        "WHERE patient_key IS NOT NULL AND record_id IS NOT NULL"
    ).df()
    columns = {r[0] for r in con.execute(f"SELECT name FROM pragma_table_info('{ROWS}')").fetchall()}

    def cell(column: str) -> str:
        return f"nullif(trim(r.\"{column}\"), '')" if column in columns else "NULL"

    checksums = pd.DataFrame({"load_id": [f.load_id for f in files], "sha256": [f.checksum for f in files]})
    con.register("_batch_checksums", checksums)
    try:
        locations = con.execute(
            f"""SELECT DISTINCT c.sha256, p.row, {cell("record_id")} AS record_id, {cell(EVENT)} AS event,
                       {cell(REPEAT_INSTRUMENT)} AS instrument, {cell(REPEAT_INSTANCE)} AS instance
                FROM {PROBLEMS} p JOIN _batch_checksums c USING (load_id)
                JOIN {ROWS} r ON r._load_id = p.load_id AND r._row = p.row
                WHERE coalesce({cell("record_id")}, {cell(EVENT)}, {cell(REPEAT_INSTRUMENT)}, {cell(REPEAT_INSTANCE)}) IS NOT NULL"""
        ).df()
    finally:
        con.unregister("_batch_checksums")
    if not len(patients) and not len(locations):
        return
    path = map_path(archive)
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as restricted:
        ensure_schema(restricted, RECORD_MAP)
        restricted.register("new_patients", patients)
        restricted.register("new_locations", locations)
        restricted.execute("INSERT OR IGNORE INTO patients SELECT patient_key, site, record_id FROM new_patients")
        restricted.execute("INSERT OR IGNORE INTO row_locations SELECT * FROM new_locations")
    make_private(path)

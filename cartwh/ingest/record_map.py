"""The data manager's way back into REDCap: patient pseudonym -> (site, record id), and where
each quarantined row sits in the EDC (event, repeating instrument, instance).

The warehouse keys patients by an HMAC pseudonym only, so a mistyped record id is invisible there
and nobody can find the record to fix it. This map is what turns an issue back into "record
X-999999 at site HUVR". It holds record ids, so it lives in the restricted area beside the exports
it was read from: `<archive>/record_ids.duckdb`, 0600 in the archive's 0700 folder (the same
protection as the exports themselves, cartwh/permissions.py), never in the working warehouse,
the published copy or anything analysts read. It never holds a name, MRN or birth date: only the
record id, the site and REDCap's own row coordinates.

Written at ingestion, before each batch commits (`remember_batch`): the pseudonym is a function of
(key, site, record id), so an entry written by a batch that then rolls back is still true, and a
rebuild under a rotated key only adds entries. Row coordinates are keyed by the file version's
checksum and row, which a rebuild keeps (load ids it does not).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from cartwh.contract.redcap import REPEAT_INSTANCE, REPEAT_INSTRUMENT
from cartwh.ingest.csv_reader import ROWS, ExportFile
from cartwh.ingest.keys import ROW_KEYS
from cartwh.ingest.validation import PROBLEMS
from cartwh.permissions import make_private

MAP_FILE = "record_ids.duckdb"
EVENT = "redcap_event_name"  # longitudinal projects only
_DDL = """
CREATE TABLE IF NOT EXISTS patients (patient_key VARCHAR PRIMARY KEY, site VARCHAR, record_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS row_locations (sha256 VARCHAR, "row" BIGINT, record_id VARCHAR, event VARCHAR,
                                          instrument VARCHAR, instance VARCHAR, PRIMARY KEY (sha256, "row"));
"""


def map_path(archive: Path) -> Path:
    return Path(archive) / MAP_FILE


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
        restricted.execute(_DDL)
        restricted.register("new_patients", patients)
        restricted.register("new_locations", locations)
        restricted.execute("INSERT OR IGNORE INTO patients SELECT patient_key, site, record_id FROM new_patients")
        restricted.execute("INSERT OR IGNORE INTO row_locations SELECT * FROM new_locations")
    make_private(path)


def read_record_map(archive: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(patients: patient_key, site, record_id; row_locations: sha256, row, record_id, event,
    instrument, instance), empty when nothing was ingested yet."""
    path = map_path(archive)
    if not path.exists():
        return (
            pd.DataFrame(columns=["patient_key", "site", "record_id"]),
            pd.DataFrame(columns=["sha256", "row", "record_id", "event", "instrument", "instance"]),
        )
    with duckdb.connect(str(path), read_only=True) as restricted:
        return (
            restricted.execute("SELECT patient_key, site, record_id FROM patients").df(),
            restricted.execute('SELECT sha256, "row", record_id, event, instrument, instance FROM row_locations').df(),
        )

"""The record map, the data manager's way back into REDCap: patient pseudonym -> (site, record
id), and where each quarantined row sits in the EDC (event, repeating instrument, instance).

The warehouse keys patients by an HMAC pseudonym only, so a mistyped record id is invisible there
and nobody can find the record to fix it. This map is what turns an issue back into "record
X-999999 at site HUVR". It holds record ids, so it lives in the restricted area beside the exports
it was read from: `<archive>/record_ids.duckdb`, 0600 in the archive's 0700 folder (the same
protection as the exports themselves, cartwh/warehouse/permissions.py), never in the working
warehouse, the published copy or anything analysts read. It never holds a name, MRN or birth
date: only the record id, the site and REDCap's own row coordinates.

Written at ingestion, before each batch commits (cartwh.ingest.record_map.remember_batch): the
pseudonym is a function of (key, site, record id), so an entry written by a batch that then rolls
back is still true, and a rebuild under a rotated key only adds entries. Row coordinates are keyed
by the file version's checksum and row, which a rebuild keeps (load ids it does not).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

MAP_FILE = "record_ids.duckdb"  # its tables, `patients` and `row_locations`: cartwh.warehouse.schema (RECORD_MAP)


def map_path(archive: Path) -> Path:
    return Path(archive) / MAP_FILE


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

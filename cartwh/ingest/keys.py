"""Replace record ids by keyed-hash pseudonyms at the door."""

from __future__ import annotations

import duckdb

from cartwh.ingest.csv_reader import ROWS
from cartwh.ingest.warehouse import insert_rows
from cartwh.pseudonym import pseudonymise, secret

KEYS = "_patient_keys"  # temp table (record_id, patient_key) for the export being loaded
ROW_KEYS = "_row_patient_keys"  # (load_id, row, patient_key) of the batch; empty when it names no patient


def reset_row_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Start each batch with no row keys, so quarantine rows never borrow a previous batch's."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ROW_KEYS} (load_id BIGINT, row BIGINT, patient_key VARCHAR)")


def register_patient_keys(con: duckdb.DuckDBPyConnection) -> None:
    key = secret()
    ids = [r[0] for r in con.execute(f"SELECT DISTINCT trim(record_id) FROM {ROWS} WHERE record_id IS NOT NULL").fetchall()]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {KEYS} (record_id VARCHAR, patient_key VARCHAR)")
    insert_rows(con, KEYS, [(i, pseudonymise(i, key)) for i in ids])
    con.execute(f"INSERT INTO {ROW_KEYS} SELECT {ROWS}._load_id, {ROWS}._row, k.patient_key FROM {ROWS} {join_keys()}")


def join_keys(rows: str = ROWS) -> str:
    return f"JOIN {KEYS} k ON k.record_id = trim({rows}.record_id)"

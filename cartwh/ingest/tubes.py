"""Tube keys: FCS file names never pass ingestion.

Labs name FCS files after accession numbers, dates and sometimes the patient's MRN or name, so
a file name is treated as an identifier. Ingestion replaces it by a keyed hash under the
pseudonym secret (HMAC-SHA256, its own domain prefix so a tube key can never equal a patient
key of the same text); the manifest and the statistics of a tube still join on it, and the name
itself stays only in the archived export.
"""

from __future__ import annotations

import hashlib
import hmac

import duckdb

from cartwh.ingest.warehouse import insert_rows
from cartwh.pseudonym import KEY_HEX_LENGTH, secret

DOMAIN = b"cartwh tube key v1\x00"  # a different message space from patient pseudonyms
TUBE_KEYS = "_tube_keys"  # temp table (fcs_file, tube_key) for the batch being loaded


def tube_key(fcs_file: str, key: bytes | None = None) -> str:
    """The tube's key: surrounding blanks are not part of a file name."""
    return hmac.new(key or secret(), DOMAIN + fcs_file.strip().encode(), hashlib.sha256).hexdigest()[:KEY_HEX_LENGTH]


def register_tube_keys(con: duckdb.DuckDBPyConnection, names_sql: str) -> None:
    """TUBE_KEYS := the key of every distinct name `names_sql` selects (one VARCHAR column)."""
    key = secret()
    names = [r[0] for r in con.execute(f"SELECT DISTINCT n FROM ({names_sql}) t(n) WHERE n IS NOT NULL").fetchall()]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {TUBE_KEYS} (fcs_file VARCHAR, tube_key VARCHAR)")
    insert_rows(con, TUBE_KEYS, [(n, tube_key(n, key)) for n in names])

"""Tube keys: FCS file names never pass ingestion.

Labs name FCS files after accession numbers, dates and sometimes the patient's MRN or name, so
a file name is treated as an identifier. Ingestion replaces it by a keyed hash under the
pseudonym secret (HMAC-SHA256, its own domain prefix so a tube key can never equal a patient
key of the same text); the manifest and the statistics of a tube still join on it, and the name
itself stays only in the archived export.

The key is of the site and the name: each site's lab numbers its own accessions, so two sites
can both have an `A0000001_T1.fcs`, and those are two tubes. The site of a manifest row is its
patient's (cartwh.ingest.keys); the site of a statistics file is the one its landing declares
(the folder below `cytometry/statistics/`, else CARTWH_SITE), compared lower-cased as sites are.
"""

from __future__ import annotations

import hashlib
import hmac

import duckdb

from cartwh.ingest.dialects import strip_sql
from cartwh.pseudonym import KEY_HEX_LENGTH, hmac_sql, secret

DOMAIN = b"cartwh tube key v2\x00"  # a different message space from patient pseudonyms; v2: per site
TUBE_KEYS = "_tube_keys"  # temp table (site, fcs_file, tube_key) for the batch being loaded


def tube_key(site: str, fcs_file: str, key: bytes | None = None) -> str:
    """The tube's key: HMAC of the site, a NUL (never in a site name) and the file name without
    surrounding blanks (register_tube_keys computes the same in bulk)."""
    message = DOMAIN + site.encode() + b"\x00" + fcs_file.strip().encode()
    return hmac.new(key or secret(), message, hashlib.sha256).hexdigest()[:KEY_HEX_LENGTH]


def register_tube_keys(con: duckdb.DuckDBPyConnection, names_sql: str) -> None:
    """TUBE_KEYS := the key (`tube_key`) of every distinct (site, name) `names_sql` selects (two
    VARCHAR columns), computed by DuckDB in bulk."""
    digest, parameters = hmac_sql(f"$domain || encode(s) || $nul || encode({strip_sql('n')})")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {TUBE_KEYS} AS
            SELECT s AS site, n AS fcs_file, {digest}[:{KEY_HEX_LENGTH}] AS tube_key
            FROM (SELECT DISTINCT s, n FROM ({names_sql}) t(s, n) WHERE s IS NOT NULL AND n IS NOT NULL)""",
        {**parameters, "domain": DOMAIN, "nul": b"\x00"},
    )

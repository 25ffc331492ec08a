"""Keyed-hash pseudonyms: the only patient key that passes beyond ingestion.

HMAC-SHA256 of the EDC record id under a secret kept outside the warehouse. Without the secret
a pseudonym cannot be linked back to the record id, and the same record always gets the same
key, so re-exports and the cytometry manifest join on it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os

SECRET_VARIABLE = "CARTWH_PSEUDONYM_KEY"
DEMO_SECRET = "cartwh-demo-secret-do-not-use-with-real-patients"
KEY_HEX_LENGTH = 16  # 64 bits: collision odds ~3e-10 for a 100,000-patient registry

log = logging.getLogger(__name__)
_warned = False


def secret() -> bytes:
    """The pseudonymisation secret, or the demo secret with a loud warning."""
    global _warned
    value = os.environ.get(SECRET_VARIABLE)
    if value:
        return value.encode()
    if not _warned:
        log.warning(
            "!!! %s is not set: using the PUBLIC DEMO secret. Pseudonyms are NOT protected. "
            "Set %s before ingesting real patient data. !!!",
            SECRET_VARIABLE,
            SECRET_VARIABLE,
        )
        _warned = True
    return DEMO_SECRET.encode()


def pseudonymise(record_id: str, key: bytes | None = None) -> str:
    digest = hmac.new(key or secret(), record_id.strip().encode(), hashlib.sha256)
    return digest.hexdigest()[:KEY_HEX_LENGTH]

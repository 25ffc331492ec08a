"""Keyed-hash pseudonyms: the only patient key that passes beyond ingestion.

HMAC-SHA256 of the site and the EDC record id under a secret kept outside the warehouse.
Without the secret a pseudonym cannot be linked back to the record id, and the same record of
the same site always gets the same key, so re-exports and the cytometry manifest join on it.
The site is part of the message because REDCap record ids restart at 1 in every project: record
1 of two sites is two patients.

The secret comes from a file (CARTWH_PSEUDONYM_KEY_FILE, readable by the pipeline's account only)
or the environment (CARTWH_PSEUDONYM_KEY). It is never printed, logged or stored; the warehouse
keeps only its fingerprint (a keyed hash of a constant), so a run under another key is caught.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from pathlib import Path

SECRET_VARIABLE = "CARTWH_PSEUDONYM_KEY"
SECRET_FILE_VARIABLE = "CARTWH_PSEUDONYM_KEY_FILE"
DEMO_SECRET = "cartwh-demo-secret-do-not-use-with-real-patients"
KEY_HEX_LENGTH = 16  # 64 bits: collision odds ~3e-10 for a 100,000-patient registry
SITE_SEPARATOR = "/"  # site names never hold it (cartwh.ingest.keys checks them), so the message is unambiguous
_FINGERPRINT_MESSAGE = b"cartwh pseudonym key fingerprint v1"

log = logging.getLogger(__name__)
_warned = False
_warned_files: set[Path] = set()  # key files already warned about (ingestion reads the key per batch)


class PseudonymKeyError(Exception):
    """The key is configured wrongly (both sources set, the file unreadable or empty). The
    message names the variables and the file, never the key."""


def secret() -> bytes:
    """The pseudonymisation secret: the key file's content (surrounding whitespace, such as the
    newline an editor adds, ignored) or the variable's value; the demo secret with a loud warning
    when neither is set."""
    global _warned
    value, file = os.environ.get(SECRET_VARIABLE), os.environ.get(SECRET_FILE_VARIABLE)
    if value and file:
        raise PseudonymKeyError(f"both {SECRET_VARIABLE} and {SECRET_FILE_VARIABLE} are set: set one of them")
    if file:
        return _read_key_file(Path(file))
    if value:
        return value.encode()
    if not _warned:
        log.warning(
            "!!! Neither %s nor %s is set: using the PUBLIC DEMO secret. Pseudonyms are NOT protected. "
            "Set one of them before ingesting real patient data. !!!",
            SECRET_FILE_VARIABLE,
            SECRET_VARIABLE,
        )
        _warned = True
    return DEMO_SECRET.encode()


def _read_key_file(path: Path) -> bytes:
    try:
        key = path.read_bytes().strip()
        mode = path.stat().st_mode
    except OSError as error:
        raise PseudonymKeyError(f"{SECRET_FILE_VARIABLE}: cannot read the key file {path}: {error.strerror}") from None
    if not key:
        raise PseudonymKeyError(f"{SECRET_FILE_VARIABLE}: the key file {path} is empty")
    if mode & 0o077 and path not in _warned_files:
        log.warning("the pseudonym key file %s is readable by other accounts: make it chmod 600", path)
        _warned_files.add(path)
    return key


def pseudonymise(record_id: str, key: bytes | None = None, *, site: str | None = None) -> str:
    """HMAC-SHA256 of `site/record_id` (or of the value alone when no site is given), as hex,
    truncated to KEY_HEX_LENGTH. Surrounding whitespace of the record id is ignored; the site
    is taken as given (ingestion normalises it)."""
    message = record_id.strip() if site is None else f"{site}{SITE_SEPARATOR}{record_id.strip()}"
    digest = hmac.new(key or secret(), message.encode(), hashlib.sha256)
    return digest.hexdigest()[:KEY_HEX_LENGTH]


def hmac_sql(message: str, key: bytes | None = None) -> tuple[str, dict[str, bytes]]:
    """The same HMAC-SHA256 (RFC 2104) as DuckDB computes it in bulk: (SQL giving the hex digest
    of the BLOB expression `message`, its parameters). The key goes as parameters, derived pads,
    never as text of the statement."""
    key = key or secret()
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    pads = {"hmac_inner": bytes(b ^ 0x36 for b in block), "hmac_outer": bytes(b ^ 0x5C for b in block)}
    return f"sha256($hmac_outer || unhex(sha256($hmac_inner || {message})))", pads


def key_fingerprint(key: bytes | None = None) -> str:
    """A keyed hash of a constant: equal for equal keys, and says nothing about the key."""
    return hmac.new(key or secret(), _FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()

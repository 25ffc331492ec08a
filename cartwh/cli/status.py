"""`cartwh status`: what the published copy holds, and which night it is from (cartwh.warehouse.status)."""

from __future__ import annotations

import sys

from cartwh import settings

HELP = "the published copy: its night, rows per table, files, quarantine"
DESCRIPTION = "Summarise what the published copy (what analysts read) holds, and which night it is from."


def handle(args) -> int:
    from cartwh.warehouse.status import NothingPublished, published_summary

    try:
        print(published_summary(settings.published_path(), settings.warehouse_path()))
    except NothingPublished as reason:
        print(reason, file=sys.stderr)
        return 1
    return 0

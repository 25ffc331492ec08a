"""`cartwh pull`: a site's REDCap project exported through the API into the landing folder
(cartwh.pull.redcap)."""

from __future__ import annotations

import argparse
import sys

from cartwh import settings

HELP = "export a site's REDCap project through the API into the landing folder"
DESCRIPTION = (
    "Export metadata and the records changed since the last pull (all on the "
    "first) through REDCap's API, into landing/redcap/<site>/. The API address is "
    "read from CARTWH_REDCAP_URL, the token from CARTWH_REDCAP_TOKEN or the file "
    "named by CARTWH_REDCAP_TOKEN_FILE."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--site", required=True, help="the site whose project this is: its folder landing/redcap/<site>/"
    )


def handle(args) -> int:
    from cartwh.pull.redcap import PullError, connection_from_environment, describe, pull

    try:
        report = pull(
            connection_from_environment(site=args.site), args.site, settings.landing_dir(), settings.archive_dir()
        )
    except PullError as error:
        print(f"cartwh pull: {error}. Nothing was written.", file=sys.stderr)
        return 1
    print("\n".join(describe(report)))
    return 0

"""The nightly job's optional first step: pull each configured site's REDCap project through the
API into the landing folder (cartwh/pull/redcap.py), so the raw assets, which all depend on this
one, ingest it the same night. Not configured (CARTWH_REDCAP_SITES unset): one line, and the night
ingests what was dropped. A failed pull fails the night before anything is ingested, with the
pull's message (never the token). A run started by the landing sensor does not pull: the files a
pull writes would otherwise start the next run, which would pull again. (No `from __future__ import
annotations`: Dagster reads the context annotation at definition time.)"""

from pathlib import Path

import dagster as dg

from assets.resources import LandingZone, RedcapPull
from cartwh.pull.redcap import SITES_VARIABLE, PullError, describe, pull_sites

PULL_KEY = dg.AssetKey(["landing", "redcap_pull"])
LANDING_TRIGGER = ("cartwh/trigger", "landing")  # the tag the landing sensor's runs carry


@dg.asset(
    key=PULL_KEY,
    group_name="landing",
    kinds={"python"},
    description="REDCap's API -> landing/redcap/<site>/ (records changed since the last pull, metadata, "
    f"deletion reports) for each site of {SITES_VARIABLE}; skipped when it is not set.",
)
def redcap_pull(context: dg.AssetExecutionContext, landing_zone: LandingZone, redcap: RedcapPull):
    if not redcap.sites:
        context.log.info(f"REDCap pull: not configured ({SITES_VARIABLE} is not set): ingesting what landed")
        return dg.MaterializeResult(metadata={"sites_pulled": 0, "skipped": f"not configured ({SITES_VARIABLE})"})
    if context.run.tags.get(LANDING_TRIGGER[0]) == LANDING_TRIGGER[1]:
        context.log.info("REDCap pull: skipped in a run started by files landing (the nightly run pulls)")
        return dg.MaterializeResult(
            metadata={"sites_pulled": 0, "skipped": "skipped (a run started by files landing does not pull)"}
        )
    try:
        reports = pull_sites(list(redcap.sites), Path(landing_zone.landing), Path(landing_zone.archive))
    except PullError as error:
        raise dg.Failure(description=f"REDCap pull failed, nothing was ingested: {error}") from None
    for report in reports:
        for line in describe(report):
            context.log.info(f"REDCap pull: {line}")
    return dg.MaterializeResult(
        metadata={
            "sites_pulled": len(reports),
            "records_changed": sum(r.records_changed for r in reports),
            "rows": sum(r.rows for r in reports),
            "records_deleted": sum(r.records_deleted for r in reports),
            "files_written": sum(
                bool(r.records_file) + len(r.metadata_files) + bool(r.records_deleted) for r in reports
            ),
        }
    )

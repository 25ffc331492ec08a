"""Did last night run and publish, and if not, why not?

The night around the main job: `landing` (has something landed: the sensor's decision) and
`nothing_new` (has anything changed since the last published night); `locking` (the one writer at
a time); `run_events` (a run's summary from Dagster's event log, and how it opens and closes its
record), `run_history` (ops.run_history, one row a night) and `run_marker` (a night that could not
record itself, recorded by the next); `published_night` (which night the published copy shows, and
why a newer one is missing); `closing` (how every night ends: its record, then the data-quality
pages); `failures` (what went wrong, in one sentence), `processes` (an interrupted run's children
stopped) and `console` (what `cartwh run` shows while it runs).
"""

__all__ = [
    "closing",
    "console",
    "failures",
    "landing",
    "locking",
    "nothing_new",
    "processes",
    "published_night",
    "run_events",
    "run_history",
    "run_marker",
]

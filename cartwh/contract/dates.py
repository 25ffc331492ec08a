"""What a date in an export may be: ISO text (`YYYY-MM-DD`, date-times `YYYY-MM-DD HH:MM[:SS]`,
as REDCap and the LIMS export them whatever the entry format) within a plausible window.

The window is written once, here. Every date of this project records something that already
happened (a birth, a diagnosis, a sample, an infusion, a last contact), so nothing may lie
after the day the export is read; one day of slack covers a site east of UTC exporting
shortly after its midnight. Nothing may lie before 1900-01-01: no living patient was born
earlier, and no earlier year is anything but a typo (`0202-03-01`, `1023-05-04`). A field
whose data dictionary sets Text Validation Min/Max (a date, or REDCap's `today`/`now`) gets
that window instead.
"""

from __future__ import annotations

import datetime as dt
import re

EARLIEST_DATE = dt.date(1900, 1, 1)
DAYS_AFTER_TODAY = 1

DATE_PATTERN = "[0-9]{4}-[0-9]{2}-[0-9]{2}"  # what ingestion accepts, before it checks the calendar
DATETIME_PATTERN = DATE_PATTERN + "[ T][0-9]{2}:[0-9]{2}(:[0-9]{2})?"


def latest_date(today: dt.date | None = None) -> dt.date:
    return (today or dt.datetime.now(dt.UTC).date()) + dt.timedelta(days=DAYS_AFTER_TODAY)


def dictionary_bound(text: str, today: dt.date | None = None) -> dt.date | None:
    """A date field's Text Validation Min/Max: 'YYYY-MM-DD' (a time part is ignored), 'today' or
    'now'; empty means unset. Anything else is a broken dictionary and raises."""
    text = (text or "").strip()
    if not text:
        return None
    if text.lower() in ("today", "now"):
        return today or dt.datetime.now(dt.UTC).date()
    if not re.fullmatch(DATE_PATTERN + r"([ T].*)?", text):
        raise ValueError(f"not a date bound: {text!r}")
    return dt.date.fromisoformat(text[:10])

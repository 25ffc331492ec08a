"""What an FCS file's TEXT keywords say, as cartwh reads them (FlowIO's spelling: lower case, no
'$'): which keywords land in raw.cytometry_fcs_files, the acquisition date, the channels and
markers, the channels a spillover matrix compensates, and the panel's acquisition checks (its
minimum events and the markers no channel names, from the cytometry_panels and
cytometry_panel_markers seeds)."""

from __future__ import annotations

import re
from datetime import date, datetime

from cartwh.contract.reference import seed_rows

# Keywords (FlowIO's spelling: lower case, no '$') whose values land, and the channel keywords.
_LANDED = {"cyt", "date", "btim", "tot", "tube name", "spillover", "spill", "comp"}
_CHANNEL = re.compile(r"p[0-9]+[ns]")
_DATE_FORMATS = ("%d-%b-%Y", "%d-%b-%y", "%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d")


def lands(keyword: str) -> bool:
    return keyword.lower() in _LANDED or bool(_CHANNEL.fullmatch(keyword.lower()))


def acquired(written: str | None) -> date | None:
    for form in _DATE_FORMATS:
        try:
            return datetime.strptime((written or "").strip(), form).date()
        except ValueError:
            continue
    return None


def channels(keywords: dict[str, str], letter: str) -> list[str]:
    count = int(keywords.get("par", "0") or 0)
    return [keywords.get(f"p{i}{letter}", "").strip() for i in range(1, count + 1)]


def spillover(keywords: dict[str, str]) -> list[str] | None:
    """The channels a $SPILLOVER (or BD's SPILL, FCS 2's $COMP) names: 'n,ch1,...,chn,values'."""
    written = next((keywords[k] for k in ("spillover", "spill", "comp") if keywords.get(k)), None)
    parts = [p.strip() for p in (written or "").split(",")]
    if not parts[0].isdigit():
        return None
    return parts[1 : 1 + int(parts[0])]


def minimum_events(panel: str | None) -> int | None:
    return next((int(r["min_events"]) for r in seed_rows("cytometry_panels") if r["panel"] == panel), None)


def missing_markers(panel: str | None, keywords: dict[str, str]) -> list[str] | None:
    """The panel's markers that no channel's $PnS or $PnN names (as a word: 'CD3 PerCP' names CD3)."""
    if panel is None:
        return None
    named = " ".join(channels(keywords, "s") + channels(keywords, "n")).lower()
    words = set(re.split(r"[\s/,;()]+", named))
    return [
        r["marker"]
        for r in seed_rows("cytometry_panel_markers")
        if r["panel"] == panel and r["marker"].lower() not in words
    ]

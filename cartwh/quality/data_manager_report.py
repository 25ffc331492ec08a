"""The data manager's morning page: one entry per root cause (root_causes.Entry: a lab's rounding
warned for 397 records is one entry of 397), what to do in one plain sentence, and beneath it,
collapsed, every record, tube or row it concerns with the REDCap record id, site, event, instance,
value, file and row to fix it; an entry of one issue shows its field, form and knock-on effects in
full. On top, what changed since the previous night (new, fixed, still open), entry by entry.
The counts are kept in quality.open_issues, which `cartwh run` prints.

It names records, so it is written to the restricted folder (settings.data_manager_dir(), private
to the pipeline's account like the archive), never to the analysts' reports folder; the
analysts' summary of the same root causes is the data-quality page (cartwh.quality.quality_report).

Each night's issue keys are kept beside the page (`issue_history.json`, same folder), keyed by
record, form, instance and field (root_causes.Issue.key), so the same problem on the next night
matches even when the new export moved its row.

The page is a list of sections (SECTIONS): a section is a function of the page's context that
returns (title, template, data) or None to leave itself out; add one by appending to the list
and writing its template under templates/ (data_manager_<name>.html.j2).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.contract.site_mapping import must_cover
from cartwh.pages import page_writer
from cartwh.quality.dbt_tests import dbt_test_results
from cartwh.quality.root_causes import KIND_LABELS, Entry, Issue, entries, has_table, latest_run, root_causes
from cartwh.synthetic import banner
from cartwh.warehouse.permissions import make_private
from cartwh.warehouse.project_versions import sites_awaiting_mapping
from cartwh.warehouse.schema import replace
from cartwh.warehouse.unrecognised_files import unrecognised_files

write_page = page_writer("cartwh.quality")  # its templates/ folder

REPORT_FILE = "data_manager.html"
HISTORY_FILE = "issue_history.json"
NIGHTS_KEPT = 14
ISSUES_SHOWN = 500  # root causes drawn on the page (blocking ones first); every key is in the history
CONSEQUENCES_SHOWN = 50  # knock-ons listed under one cause; the count is always complete


@dataclass(frozen=True)
class Section:
    title: str
    template: str  # under templates/ (data_manager_<name>.html.j2)
    data: object


OPEN_ISSUES = "quality.open_issues"


@dataclass
class Changes:
    previous_run: str | None
    previous_at: str | None
    new: list[Issue]
    still_open: list[Issue]
    fixed: list[dict]  # as stored on the night they were last seen: title, where, action

    @property
    def rows(self) -> list[tuple[str, str, str]]:
        """(change, where, what): one row per root cause, its issues counted when more than one."""
        rows = [
            (change, _where(e), e.first.title)
            for change, found in (("new", self.new), ("still open", self.still_open))
            for e in entries(found)
        ]
        fixed: dict[str, list[dict]] = {}
        for f in self.fixed:
            fixed.setdefault(f["title"], []).append(f)
        rows += [
            ("fixed", gone[0]["where"] if len(gone) == 1 else f"{len(gone):,} records or rows", title)
            for title, gone in fixed.items()
        ]
        return rows


def _where(entry: Entry) -> str:
    return entry.first.place if len(entry.issues) == 1 else entry.counted


def _read_history(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        return json.loads(path.read_text(encoding="utf-8"))["nights"]
    except (ValueError, KeyError):  # a torn or foreign file: start again rather than stop the night
        return []


def record_night(folder: Path, run_id: str, at: str, issues: list[Issue]) -> Changes:
    """Compare tonight's issues with the last night before this run, and keep tonight's keys
    (a second write for the same run replaces its entry)."""
    path = Path(folder) / HISTORY_FILE
    nights = [n for n in _read_history(path) if n["run_id"] != run_id]
    previous = nights[-1] if nights else None
    before = previous["issues"] if previous else {}
    now = {i.key: i for i in issues}
    changes = Changes(
        previous["run_id"] if previous else None,
        previous["at"] if previous else None,
        new=[i for k, i in now.items() if k not in before] if previous else list(now.values()),
        still_open=[i for k, i in now.items() if k in before],
        fixed=[v for k, v in before.items() if k not in now],
    )
    nights.append(
        {
            "run_id": run_id,
            "at": at,
            "issues": {k: {"title": i.title, "where": i.place, "action": i.action} for k, i in now.items()},
        }
    )
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"nights": nights[-NIGHTS_KEPT:]}, indent=1), encoding="utf-8")
    os.replace(temporary, path)
    make_private(path)
    return changes


def _changes_section(context: dict) -> Section:
    return Section("Since the previous night", "data_manager_changes.html.j2", context["changes"])


def _issues_section(context: dict) -> Section:
    found = context["entries"]
    return Section(
        f"Open issues by root cause ({len(found):,} root causes, {len(context['issues']):,} issues)",
        "data_manager_issues.html.j2",
        found,
    )


def _findings(context: dict, blocking: bool, title: str, template: str) -> Section | None:
    """Tonight's source-health findings that block (or only warn), as a section; none: no section."""
    con, run_id = context["con"], context["run_id"]
    if not run_id or not has_table(con, "quality", "source_health"):
        return None
    findings = con.execute(
        "SELECT check_name, subject, message FROM quality.source_health WHERE run_id = ? "
        "AND coalesce(blocking, true) = ? ORDER BY check_name, subject",
        [run_id, blocking],
    ).fetchall()
    return Section(title, template, findings) if findings else None


def _source_health_section(context: dict) -> Section | None:
    return _findings(context, True, "Broken sources: the night is blocked", "data_manager_source_health.html.j2")


def _lost_values_section(context: dict) -> Section | None:
    """Tubes a re-export no longer holds: reported as loudly, though the night goes on."""
    return _findings(
        context, False, "Values lost since an earlier version of an export", "data_manager_lost_values.html.j2"
    )


def _awaiting_mapping_section(context: dict) -> Section | None:
    awaiting = sites_awaiting_mapping(context["con"])
    data = {"awaiting": awaiting, "must_cover": must_cover(project_dictionary())}
    return (
        Section(f"Sites awaiting their mapping ({len(awaiting)})", "data_manager_awaiting_mapping.html.j2", data)
        if awaiting
        else None
    )


def _unrecognised_section(context: dict) -> Section | None:
    files = unrecognised_files(context["con"])
    return (
        Section(f"Files not read: not recognised exports ({len(files)})", "data_manager_unrecognised.html.j2", files)
        if files
        else None
    )


def _dbt_tests_section(context: dict) -> Section | None:
    tests = dbt_test_results(context["con"])
    return (
        Section(f"dbt tests that warned or failed ({len(tests)})", "data_manager_dbt_tests.html.j2", tests)
        if len(tests)
        else None
    )


SECTIONS: list[Callable[[dict], Section | None]] = [
    _source_health_section,
    _lost_values_section,
    _awaiting_mapping_section,
    _changes_section,
    _issues_section,
    _dbt_tests_section,
    _unrecognised_section,
]


def write_data_manager_report(con: duckdb.DuckDBPyConnection, folder: Path, archive: Path) -> Path:
    """Write the page (and tonight's issue keys) into the restricted `folder`; its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    make_private(folder)
    run_id, checked_at = latest_run(con) or (None, None)
    issues = sorted(root_causes(con, archive), key=lambda i: not i.blocks_the_night)  # what blocks the night first
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    context = {
        "con": con,
        "run_id": run_id,
        "issues": issues,
        "entries": entries(issues),
        "changes": record_night(folder, run_id or "no checks yet", generated, issues),
    }
    _count(con, context["entries"])
    sections = [s for s in (make(context) for make in SECTIONS) if s is not None]
    path = write_page(
        "data_manager.html.j2",
        folder / REPORT_FILE,
        sections=sections,
        generated=generated,
        run_id=run_id,
        checked_at=checked_at,
        kinds=KIND_LABELS,
        issues_shown=ISSUES_SHOWN,
        consequences_shown=CONSEQUENCES_SHOWN,
        synthetic=banner(con),
    )
    make_private(path)
    return path


def _count(con: duckdb.DuckDBPyConnection, found: list[Entry]) -> None:
    """What the page holds, in numbers, for the run's summary on the console."""
    replace(con, OPEN_ISSUES)  # declared in cartwh.warehouse.schema, rewritten whole
    con.execute(
        f"INSERT INTO {OPEN_ISSUES} VALUES (?, ?, ?, ?)",
        [
            len(found),
            sum(len(e.issues) for e in found),
            sum(e.blocks_the_night for e in found),
            sum(e.severity == "warn" and not e.blocks_the_night for e in found),
        ],
    )


def open_issues(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int, int] | None:
    """(root causes, issues, blocking, warnings) of the latest data manager's report, if written."""
    if not has_table(con, "quality", "open_issues"):
        return None
    found = con.execute(f"SELECT * FROM {OPEN_ISSUES}").fetchall()
    return found[0] if found else None

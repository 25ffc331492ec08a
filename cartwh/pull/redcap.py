"""`cartwh pull`: bring a site's REDCap project into the landing folder through REDCap's API (PyCap).

A pull exports the project's metadata (data dictionary; for a longitudinal project its arms,
events and instrument-event mapping; its repeating instruments and events) and its records as a
flat CSV of raw codes, and writes them into landing/redcap/<site>/ in the shapes a data manager
would drop there, so ledger, archive, supersession and quarantine treat them as dropped files:

  <site>_records_<YYYYMMDDTHHMMSS>.csv   the records created or changed since the last pull (all on the first)
  dictionary.json, arms.json, events.json, form_event_mapping.json, repeating_forms_events.json
                                        the API's JSON answers, replaced (a new version) when they change
  deleted_records_<YYYYMMDDTHHMMSS>.json record ids that were in the project at the last pull and are gone

Incremental: REDCap's `dateRangeBegin` returns the records created or modified after a time (the
server's clock). The pull asks from the start of the previous successful pull less `OVERLAP`
(clocks differ; a record saved while the previous pull ran must not fall between two pulls), so a
record may come twice, never not at all. Deleted records are found by comparing the full list of
record ids with the previous pull's (no logging rights needed). The state (that start time and the
ids) is a small JSON file in the archive area, replaced only after every file was written.

Everything is fetched before anything is written: a refused token, an unreachable server or
metadata ingestion would refuse (a dictionary that does not parse, a form name that is not one)
leaves the landing folder and the state as they were. The record export is streamed to a hidden
folder beside the site's (`redcap/.<site>.pulling/`, never read by ingestion) and renamed into
place once everything was fetched; the other files are written atomically too (a hidden
temporary name, then renamed), so ingestion never sees half a file. How answers are read (the
deadline, the size cap, no redirect, HTML or XML said as such, the token withheld from every
message): cartwh/pull/redcap_api.py. The token is never printed, logged or written; errors name the
variable it came from.

In the nightly job (assets/pull.py) `pull_sites` pulls every site of CARTWH_REDCAP_SITES before
anything is ingested; each site's token is CARTWH_REDCAP_TOKEN_<SITE> (or _FILE_<SITE>), else the
common CARTWH_REDCAP_TOKEN[_FILE]. Sites are pulled in turn: a site that fails stops the night
with its message; the sites pulled before it keep their (whole) files, ingested by the next run.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cartwh.contract.redcap_dictionary import MetadataError, parse_dictionary
from cartwh.contract.redcap_project import ProjectSetup, parse_arms, parse_events, parse_form_events, parse_repeating
from cartwh.pull.redcap_api import Api, Limits, PullError, refusal

TOKEN_VARIABLE, TOKEN_FILE_VARIABLE = "CARTWH_REDCAP_TOKEN", "CARTWH_REDCAP_TOKEN_FILE"
URL_VARIABLE = "CARTWH_REDCAP_URL"
SITES_VARIABLE = "CARTWH_REDCAP_SITES"  # comma-separated: the sites the nightly job pulls
OVERLAP = timedelta(minutes=10)
_TOKEN = re.compile(r"[0-9A-Fa-f]{32}")  # what REDCap issues (PyCap checks the length too)
_SITE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_STAMP = "%Y%m%dT%H%M%S"
_REDCAP_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Connection:
    url: str
    token: str = field(repr=False)  # kept out of repr, tracebacks' locals aside

    def __str__(self) -> str:
        return self.url


@dataclass
class PullReport:
    site: str
    first: bool
    records_file: str | None = None  # landed name, None when no record changed
    rows: int = 0
    records_changed: int = 0
    records_deleted: int = 0
    metadata_files: list[str] = field(default_factory=list)  # written because new or changed


def connection_from_environment(environ=os.environ, site: str | None = None) -> Connection:
    """The API address and a token from the environment: the site's own token variables first
    (CARTWH_REDCAP_TOKEN_<SITE>, CARTWH_REDCAP_TOKEN_FILE_<SITE>: one token per REDCap project),
    then the common ones."""
    url = environ.get(URL_VARIABLE, "").strip()
    if not url:
        raise PullError(f"{URL_VARIABLE} is not set: the REDCap API address, e.g. https://redcap.example.org/api/")
    if not url.endswith("/api/"):
        raise PullError(f"{URL_VARIABLE} must be the API address, ending in /api/ (it is {url})")
    own = [f"{TOKEN_VARIABLE}_{site.upper()}", f"{TOKEN_FILE_VARIABLE}_{site.upper()}"] if site else []
    token_variable, file_variable = own if any(environ.get(v) for v in own) else (TOKEN_VARIABLE, TOKEN_FILE_VARIABLE)
    if environ.get(token_variable):
        token, origin = environ[token_variable].strip(), token_variable
    elif environ.get(file_variable):
        origin = file_variable
        try:
            token = Path(environ[file_variable]).expanduser().read_text().strip()
        except OSError as error:
            raise PullError(f"the token file named by {file_variable} cannot be read: {error.strerror}") from None
    else:
        raise PullError(
            f"no API token: set {TOKEN_VARIABLE}, or {TOKEN_FILE_VARIABLE} to a file holding it"
            + (f" (or {own[0]} / {own[1]} for this site)" if own else "")
        )
    if not _TOKEN.fullmatch(token):
        raise PullError(f"the token from {origin} is not a REDCap API token (32 hexadecimal characters)")
    return Connection(url, token)


def state_path(archive: Path, site: str) -> Path:
    return Path(archive) / "redcap_pull" / f"{site}.json"


def pull(
    connection: Connection,
    site: str,
    landing: Path,
    archive: Path,
    now: datetime | None = None,
    limits: Limits | None = None,
) -> PullReport:
    if not _SITE.fullmatch(site):
        raise PullError(f"'{site}' is not a site name (letters, digits, - and _)")
    began = now or datetime.now()
    state_file = state_path(archive, site)
    try:
        state = json.loads(state_file.read_text()) if state_file.exists() else None
        since = datetime.strptime(state["began"], _REDCAP_TIME) - OVERLAP if state else None
        previous_ids = set(state["record_ids"]) if state else set()
    except (ValueError, KeyError, TypeError):
        raise PullError(
            f"the pull state {state_file} cannot be read: move it away to pull site {site} afresh "
            f"(every record, and no deletion report this once)"
        ) from None
    if state is not None and state.get("url") != connection.url:
        raise PullError(
            f"site {site} was last pulled from {state.get('url')}, not {connection.url}: "
            f"move {state_file} away to start this site afresh"
        )
    folder = Path(landing) / "redcap" / site
    spool = folder.with_name(f".{site}.pulling")  # hidden: no scan of the landing folder reads it
    shutil.rmtree(spool, ignore_errors=True)  # a killed pull's
    spool.mkdir(parents=True)
    try:
        exported = _export(Api(connection.url, connection.token, limits or Limits.from_settings()), since, spool)
        report = PullReport(site, first=state is None)
        for name, content in exported.metadata.items():
            if _write_if_changed(folder / name, content):
                report.metadata_files.append(f"redcap/{site}/{name}")
        if exported.rows:
            name = f"{site}_records_{began:{_STAMP}}.csv"
            _move_into_place(exported.records, folder / name)
            report.records_file, report.rows = f"redcap/{site}/{name}", exported.rows
            report.records_changed = exported.records_changed
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    deleted = sorted(previous_ids - set(exported.all_ids))
    if deleted:
        content = json.dumps(
            {"deleted_since": state["began"], "found_at": f"{began:{_REDCAP_TIME}}", "record_ids": deleted}, indent=1
        ).encode()
        _write(folder / f"deleted_records_{began:{_STAMP}}.json", content)
        report.records_deleted = len(deleted)
    # Advanced last: a pull that failed on the way asks for the same records again next time.
    new_state = {"url": connection.url, "began": f"{began:{_REDCAP_TIME}}", "record_ids": sorted(exported.all_ids)}
    _write(state_file, json.dumps(new_state, indent=1).encode())
    return report


def configured_sites(environ=os.environ) -> list[str]:
    """The sites the nightly job pulls (CARTWH_REDCAP_SITES); none: the job pulls nothing."""
    return [site.strip() for site in environ.get(SITES_VARIABLE, "").split(",") if site.strip()]


def pull_sites(
    sites: list[str], landing: Path, archive: Path, environ=os.environ, now: datetime | None = None
) -> list[PullReport]:
    """Pull each site in turn; the first that fails raises PullError naming it (its files and
    state untouched, as every pull's)."""
    reports = []
    for site in sites:
        try:
            reports.append(pull(connection_from_environment(environ, site), site, landing, archive, now))
        except PullError as error:
            raise PullError(f"site {site}: {error}") from None
    return reports


def describe(report: PullReport) -> list[str]:
    """What a pull brought, a line each (the command line and the nightly job print these)."""
    kind = "first pull: every record" if report.first else "records created or changed since the last pull"
    lines = [
        f"{report.site}: {kind}: {report.records_changed:,} record(s), {report.rows:,} row(s)"
        + (f" in {report.records_file}" if report.records_file else "")
    ]
    lines += [f"{report.site}: {name} written (new or changed)" for name in report.metadata_files]
    if report.records_deleted:
        lines.append(
            f"{report.site}: {report.records_deleted} record(s) deleted in REDCap since the last pull "
            f"(listed in redcap/{report.site}/deleted_records_*.json)"
        )
    return lines


@dataclass
class _Export:
    metadata: dict[str, bytes]
    records: Path  # the record export, as REDCap wrote it, in the pull's hidden folder
    rows: int
    records_changed: int
    all_ids: list[str]


def _export(api: Api, since: datetime | None, spool: Path) -> _Export:
    """Everything the pull writes, fetched and checked as ingestion will read it. Any failure on the
    way (the server's, the network's, an answer that is not what was asked) is a PullError, in a
    sentence that holds no token."""
    try:
        metadata = api.call("export_metadata", format_type="json")
        dictionary = parse_dictionary(json.dumps(metadata).encode(), "the project's metadata (API)", json_text=True)
        info = api.call("export_project_info", format_type="json")
        files = {"dictionary.json": metadata}
        if str(info.get("is_longitudinal")) == "1":
            files["arms.json"] = api.call("export_arms", format_type="json")
            files["events.json"] = api.call("export_events", format_type="json")
            files["form_event_mapping.json"] = api.call("export_instrument_event_mappings", format_type="json")
        if str(info.get("has_repeating_instruments_or_events")) == "1":
            files["repeating_forms_events.json"] = api.call("export_repeating_instruments_events", format_type="json")
        content = {name: json.dumps(value, indent=1).encode() for name, value in files.items()}
        _setup(content).check_against(dictionary.forms, "the project's setup (API)")
        record_id = dictionary.record_id_field
        ids = spool / "record_ids.part"  # no .csv ending: no scan of the landing folder lists it
        api.call("export_records", into=ids, format_type="csv", fields=[record_id])
        records = spool / "records.part"
        api.call(
            "export_records",
            into=records,
            format_type="csv",
            raw_or_label="raw",
            raw_or_label_headers="raw",
            export_survey_fields=True,
            export_data_access_groups=True,
            date_begin=since,
        )
        rows, changed = _scan(records, record_id)
        _, all_ids = _scan(ids, record_id)
    except PullError:
        raise
    except MetadataError as error:
        raise PullError(f"the project's metadata cannot be used: {error}") from None
    except Exception as error:  # noqa: BLE001 (PyCap's RedcapError, the network's, a malformed answer)
        detail = error.args[0] if error.args else error
        raise PullError(refusal(detail.get("error", detail) if isinstance(detail, dict) else detail)) from None
    return _Export(content, records, rows, len(changed), list(all_ids))


def _setup(content: dict[str, bytes]) -> ProjectSetup:
    """The project's setup as ingestion will read the files written (cartwh.contract.redcap_project)."""
    parsers = {
        "arms.json": ("arms", parse_arms),
        "events.json": ("events", parse_events),
        "form_event_mapping.json": ("form_events", parse_form_events),
        "repeating_forms_events.json": ("repeating", parse_repeating),
    }
    parsed = {
        part: parse(content[name], f"the project's {name.removesuffix('.json')} (API)", json_text=True)
        for name, (part, parse) in parsers.items()
        if name in content
    }
    return ProjectSetup(**parsed)


def _scan(records: Path, record_id: str) -> tuple[int, dict[str, None]]:
    """(data rows, record ids in order) of a flat CSV record export on disk, read a row at a time;
    REDCap answers an empty project with nothing at all."""
    with open(records, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return 0, {}
        if record_id not in header:
            raise PullError(
                f"REDCap's record export has no '{record_id}' column (the dictionary's first field): "
                f"it is not a flat raw export"
            )
        column, rows, ids = header.index(record_id), 0, {}
        for row in reader:
            if row:
                rows += 1
                ids[row[column] if column < len(row) else ""] = None
    return rows, ids


def _move_into_place(path: Path, target: Path) -> None:
    """A file fetched into the pull's hidden folder, synced, then renamed into the site's folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(path, target)


def _write_if_changed(path: Path, content: bytes) -> bool:
    if path.exists() and path.read_bytes() == content:
        return False
    _write(path, content)
    return True


def _write(path: Path, content: bytes) -> None:
    """Whole or not at all: a hidden temporary file (no .csv ending, so no scan lists it), synced,
    then renamed over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with open(temporary, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)

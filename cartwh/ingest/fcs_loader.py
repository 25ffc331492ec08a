"""Load FCS files: the acquisition's keywords into raw.cytometry_fcs_files, and, where the file has
a gating, every gate's events into raw.cytometry_population_stats beside the lab's own tables.

An FCS file lands in `cytometry/fcs/<SITE>/` (any folder below; `.fcs` in any case). It is one
tube: row 1 of the file version is its HEADER and TEXT segment, row 2 the tube. Its gating is the
lab's FlowJo workspace beside it (one `.wsp` in the folder), else the reviewed GatingML 2.0
template of the tube's panel (the manifest's `panel`): `<panel>.xml` in CARTWH_GATING_TEMPLATES
(default: the templates shipped in cartwh/contract/gating/). Each gate's Count, Freq. of Parent and
Freq. of Total land under the gate's path (its names from the first gate below the root), mapped
through the lab's names (cytometry_lab_columns) as a table's columns are. The events themselves
stay in the archived file.

Identifiers: the tube is keyed like a table's tube (site and file name), and its record is the
one its manifest names. Every keyword value and the file's path below the site folder are
matched against that record's name, MRN and birth date (cartwh.ingest.identifiers): a hit in the
path or in a keyword that lands quarantines the tube (the value is not kept); a hit in any other
keyword ($SRC, PATIENT ID, free keywords) lands nothing of it and is noted once. A file FlowIO
refuses (truncated, offsets inconsistent) is quarantined with FlowIO's reason; a gating FlowKit
cannot apply is noted, and the tube's keywords still land.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import duckdb
import pandas as pd

from cartwh import settings
from cartwh.contract.cytometry import COUNT, FREQ_PARENT, FREQ_TOTAL, lab_names
from cartwh.contract.redcap_dictionary import MetadataError
from cartwh.contract.reference import study_parameter
from cartwh.ingest import fcs_gating, fcs_keywords, redcap_versions
from cartwh.ingest.csv_reader import HEADER, RECORDS, ROWS, SKIPPED, ExportFile
from cartwh.ingest.cytometry_loader import create_statistics_table, store_statistics
from cartwh.ingest.errors import Problem
from cartwh.ingest.identifiers import quarantine_identifiers, register_identifiers, register_tube_records
from cartwh.ingest.keys import SITE_PATTERN
from cartwh.ingest.statistics_layouts import gate_path_of
from cartwh.ingest.tubes import tube_key
from cartwh.ingest.validation import PROBLEMS, excluded, reset_problems
from cartwh.ingest.warehouse import RawTable, ensure_table, insert_rows, quote, quote_literal

FOLDER = "cytometry/fcs"
FCS_FILES = "raw.cytometry_fcs_files"
FCS_COLUMNS = {
    "tube_key": "VARCHAR NOT NULL",
    "fcs_version": "VARCHAR",  # the HEADER's FCS3.1
    "cytometer": "VARCHAR",  # $CYT
    "acquisition_date": "DATE",  # $DATE
    "acquisition_start": "VARCHAR",  # $BTIM, as written (hh:mm:ss[.cc])
    "total_events": "BIGINT",  # $TOT
    "channels": "VARCHAR[]",  # $PnN
    "markers": "VARCHAR[]",  # $PnS, '' where a channel has none
    "spillover_channels": "VARCHAR[]",  # the channels $SPILLOVER (SPILL, $COMP) compensates; NULL: none
    "tube_name": "VARCHAR",  # TUBE NAME (FACSDiva)
    "gating": "VARCHAR",  # workspace | gatingml | NULL (not gated)
    "gating_sha256": "VARCHAR",  # of the workspace or template
    "gates": "INTEGER",  # gates counted
    # What the acquisition is checked against (expectations/suites/raw_cytometry_fcs_files.yml), as in
    # force when it landed: its manifest's panel, the panel's minimum events and the markers of the
    # panel (cytometry_panels, cytometry_panel_markers seeds) that no channel names, and how many days
    # from the sample's collection it may be acquired (study_parameters).
    "panel": "VARCHAR",
    "min_events": "BIGINT",
    "missing_markers": "VARCHAR[]",
    "max_days_from_collection": "INTEGER",
    "_load_id": "BIGINT NOT NULL",
    "_source_row": "BIGINT NOT NULL",
}
TUBE_ROW = 2  # row 1 is the HEADER and TEXT segment
TEMPLATES_ENV = "CARTWH_GATING_TEMPLATES"  # a reviewed folder of <panel>.xml, outside the landing
SHIPPED_TEMPLATES = Path(__file__).resolve().parents[1] / "contract" / "gating"


def is_fcs(path: Path) -> bool:
    return path.suffix.lower() == ".fcs"


def is_workspace(path: Path) -> bool:
    return path.suffix.lower() == ".wsp"


def templates_dir() -> Path:
    configured = os.environ.get(TEMPLATES_ENV)
    return Path(configured).expanduser() if configured else SHIPPED_TEMPLATES


def ledger_name(landed: str) -> str:
    """What an FCS file version is called in the warehouse, its ledger and the logs: its site
    folder and tube key (`cytometry/fcs/site_7/<key>.fcs`), never its landed name, which labs
    build from MRNs and names. A tube landed twice under other folders of its site is one tube."""
    below = PurePosixPath(landed).relative_to(FOLDER).parts
    site = below[0] if len(below) > 1 else settings.site() or ""
    folder = f"{FOLDER}/{below[0]}" if len(below) > 1 else FOLDER
    return f"{folder}/{tube_key(site.strip().lower(), below[-1])}.fcs"


@dataclass(frozen=True)
class FolderGating:
    """What a folder's FCS files are read with: its FlowJo workspace, if it holds one (its landed
    name, sha256 and bytes are archived with each version, redcap_versions.archive_project), and
    the landed name of each of its files by ledger name."""

    workspace: fcs_gating.Gating | None = None
    sha256: str = ""  # files of different workspaces never share a batch
    files: tuple[tuple[str, str], ...] = ()
    contents: tuple[bytes, ...] = field(default=(), compare=False, repr=False)
    landed: dict[str, str] = field(default_factory=dict, compare=False, repr=False)


def read_folder_gating(folder: Path, landed_folder: str, site: str = "") -> FolderGating:
    """The workspace beside a folder's FCS files; two workspaces in one folder is an error
    (MetadataError): which of them is the lab's analysis is for the lab to say."""
    listed = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    landed = {ledger_name(f"{landed_folder}/{p.name}"): f"{landed_folder}/{p.name}" for p in listed if is_fcs(p)}
    found = [p for p in listed if is_workspace(p)]
    if len(found) > 1:
        raise MetadataError(
            f"{landed_folder}/{found[1].name}", f"a second FlowJo workspace (also {found[0].name}): keep one"
        )
    if not found:
        return FolderGating(landed=landed)
    content = found[0].read_bytes()
    sha = hashlib.sha256(content).hexdigest()
    return FolderGating(
        fcs_gating.Gating(fcs_gating.WORKSPACE, str(found[0]), sha),
        sha,
        ((f"{landed_folder}/{found[0].name}", sha),),
        (content,),
        landed,
    )


# In the archive: <file sha256>.json, the name each FCS version landed under (the archive is the
# pipeline's only), so `cartwh rebuild` lands it under that name again.
LANDED_NAMES = "fcs_landed_names"


def archive_landed(file: ExportFile, archive: Path) -> None:
    """Archive the workspace a version was gated with, and the name it landed under."""
    redcap_versions.archive_project(file, archive)
    landed = {"ledger": file.name, "landed": file.context.landed[file.name]}
    target = Path(archive) / LANDED_NAMES / f"{file.checksum}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(landed), encoding="utf-8")


def restore_landed(archive: Path, sha256: str, landing: Path) -> None:
    """Put an archived version back under its landed name, beside its workspace."""
    redcap_versions.restore_project(archive, sha256, landing)
    sidecar = Path(archive) / LANDED_NAMES / f"{sha256}.json"
    if sidecar.exists():
        names = json.loads(sidecar.read_text(encoding="utf-8"))
        target = Path(landing) / names["landed"]
        target.parent.mkdir(parents=True, exist_ok=True)
        (Path(landing) / names["ledger"]).replace(target)


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    ensure_table(con, FCS_FILES, FCS_COLUMNS)
    create_statistics_table(con)


@dataclass(frozen=True)
class _Tube:
    file: ExportFile
    site: str | None
    name: str  # the file's name: what the manifest and the lab's table call the tube
    below_site: str  # its path below the site folder: checked for identifiers
    key: str | None


def load_fcs(con: duckdb.DuckDBPyConnection, files: list[ExportFile]) -> list[str | RawTable]:
    """Read and gate a batch of FCS file versions; return the raw tables written."""
    create_tables(con)
    tubes = [_tube(f) for f in files]
    panels = _panels(con, [t.key for t in tubes if t.key])
    jobs = [fcs_gating.Job(str(t.file.path), t.name, _gating(t, panels.get(t.key))) for t in tubes]
    analyses = _analysed(jobs, [t.file.checksum for t in tubes])
    _rows(con, tubes, jobs, analyses, panels)
    register_identifiers(con, from_batch=False)
    register_tube_records(con)
    keywords = [c for c in _columns(con) if c not in ("_load_id", "_row", "site", "fcs_file", "file")]
    quarantine_identifiers(
        con,
        dict.fromkeys(["file", *keywords]),
        f"SELECT r._load_id, r._row, t.site, t.record_id FROM {ROWS} r "
        "JOIN _tube_records t ON t.fcs_file = r.fcs_file AND t.site = r.site",
    )
    unlanded = [c for c in keywords if not fcs_keywords.lands(c)]
    con.execute(
        f"""UPDATE {PROBLEMS} SET row = 1, reason = 'keyword ' || column_name || ' ' || reason
                || ': not stored (only the acquisition''s keywords land)'
            WHERE column_name IN ({", ".join(map(quote_literal, unlanded)) or "NULL"})"""
    )
    return [FCS_FILES, _insert(con, tubes, jobs, analyses, panels)]


def _tube(file: ExportFile) -> _Tube:
    site = (file.folder or settings.site() or "").strip().lower()
    site = site if re.fullmatch(SITE_PATTERN, site) else None
    below = PurePosixPath(file.context.landed[file.name]).relative_to(FOLDER)
    below_site = PurePosixPath(*below.parts[1:]) if file.folder else below
    name = below.name
    return _Tube(file, site, name, below_site.as_posix(), tube_key(site, name) if site else None)


def _panels(con, keys: list[str]) -> dict[str, str]:
    """Tube key -> its panel, from its current manifest row (none yet: no template)."""
    return dict(
        con.execute(
            """SELECT s.tube_key, arg_max(s.panel, s._load_id) FROM raw.cytometry_samples s
               JOIN raw.landed_files l ON l.load_id = s._load_id AND l.superseded_by IS NULL
               WHERE s.tube_key IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1""",
            [keys],
        ).fetchall()
    )


def _gating(tube: _Tube, panel: str | None) -> fcs_gating.Gating | None:
    """The folder's workspace, else the template of the tube's panel, else none."""
    folder = tube.file.context
    if isinstance(folder, FolderGating) and folder.workspace:
        return folder.workspace
    template = templates_dir() / f"{panel}.xml" if panel else None
    if template is None or not template.is_file():
        return None
    return fcs_gating.Gating(fcs_gating.GATINGML, str(template), hashlib.sha256(template.read_bytes()).hexdigest())


# The last batch's analyses by (file checksum, gating): a batch that fails is loaded again file by
# file (cartwh.ingest.load), and gating each of them again would double a night's cost.
_LAST_BATCH: dict[tuple[str, str | None], fcs_gating.Analysis] = {}


def _analysed(jobs: list[fcs_gating.Job], checksums: list[str]) -> list[fcs_gating.Analysis]:
    keys = [(c, j.gating.sha256 if j.gating else None) for c, j in zip(checksums, jobs, strict=True)]
    new = [(k, j) for k, j in zip(keys, jobs, strict=True) if k not in _LAST_BATCH]
    done = dict(zip([k for k, _ in new], fcs_gating.analyse_all([j for _, j in new]), strict=True))
    if new:
        _LAST_BATCH.clear()
    _LAST_BATCH.update(done)
    return [done.get(k) or _LAST_BATCH[k] for k in keys]


def _why_not_gated(panel: str | None) -> str:
    if panel is None:
        return (
            "not gated: no manifest names the tube (yet), so its panel's template is unknown, and no FlowJo "
            "workspace is beside it; a version landed after its manifest is gated"
        )
    return f"not gated: no template {panel}.xml in {templates_dir()} and no FlowJo workspace beside the file"


def _rows(
    con, tubes: list[_Tube], jobs: list[fcs_gating.Job], analyses: list[fcs_gating.Analysis], panels: dict[str, str]
) -> None:
    """ROWS := one row per tube (its keywords as columns); RECORDS, SKIPPED and the problems of
    files that cannot be read, have no site, or could not be gated."""
    frame = pd.DataFrame(
        [
            {
                "_load_id": t.file.load_id,
                "_row": TUBE_ROW,
                "site": t.site,
                "fcs_file": t.name,
                "file": t.below_site,
                **{k.upper(): v for k, v in a.keywords.items()},
            }
            for t, a in zip(tubes, analyses, strict=True)
        ]
    ).astype(object)
    frame = frame.where(frame.notna(), None)
    columns = ", ".join(f"{quote(c)} VARCHAR" for c in frame.columns[2:])
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ROWS} (_load_id BIGINT, _row BIGINT, {columns})")
    con.register("_fcs_rows", frame)
    try:
        con.execute(f"INSERT INTO {ROWS} SELECT * FROM _fcs_rows")
    finally:
        con.unregister("_fcs_rows")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {RECORDS} (load_id BIGINT, records BIGINT)")
    insert_rows(con, RECORDS, [(t.file.load_id, TUBE_ROW) for t in tubes])
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SKIPPED} (load_id BIGINT, row BIGINT, why VARCHAR)")
    insert_rows(con, SKIPPED, [(t.file.load_id, 1, HEADER) for t in tubes])
    problems = []
    for t, job, a in zip(tubes, jobs, analyses, strict=True):
        if a.unreadable:
            problems.append((t.file.load_id, Problem(TUBE_ROW, None, a.unreadable)))
        if t.site is None:
            reason = (
                "no site: the landing declares none (a folder named after the site below "
                f"{FOLDER}/, or CARTWH_SITE), so the tube cannot be keyed"
            )
            problems.append((t.file.load_id, Problem(TUBE_ROW, None, reason)))
        if a.not_gated or (job.gating is None and a.keywords):
            problems.append((t.file.load_id, Problem(1, None, a.not_gated or _why_not_gated(panels.get(t.key)))))
        if a.keywords and fcs_keywords.acquired(a.keywords.get("date")) is None and a.keywords.get("date"):
            problems.append((t.file.load_id, Problem(1, "DATE", "not a date FCS writes (dd-mmm-yyyy): not stored")))
    reset_problems(con, problems)


def _columns(con) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {ROWS}").fetchall()]


def _insert(
    con, tubes: list[_Tube], jobs: list[fcs_gating.Job], analyses: list[fcs_gating.Analysis], panels: dict[str, str]
) -> RawTable:
    """The tubes without a problem: their keywords, and their gates' statistics (the raw table
    they are in)."""
    clean = {r[0] for r in con.execute(f"SELECT _load_id FROM {ROWS} WHERE {excluded()}").fetchall()}
    kept = [
        (t, j.gating if a.gates else None, a)
        for t, j, a in zip(tubes, jobs, analyses, strict=True)
        if t.file.load_id in clean and t.key and not a.unreadable
    ]
    files = [
        (
            t.key,
            a.version,
            a.keywords.get("cyt"),
            fcs_keywords.acquired(a.keywords.get("date")),
            a.keywords.get("btim"),
            int(a.keywords["tot"]) if a.keywords.get("tot", "").strip().isdigit() else a.events,
            fcs_keywords.channels(a.keywords, "n"),
            fcs_keywords.channels(a.keywords, "s"),
            fcs_keywords.spillover(a.keywords),
            a.keywords.get("tube name"),
            gating.kind if gating else None,
            gating.sha256 if gating else None,
            len(a.gates),
            panels.get(t.key),
            fcs_keywords.minimum_events(panels.get(t.key)),
            fcs_keywords.missing_markers(panels.get(t.key), a.keywords),
            int(study_parameter("fcs_acquisition_max_days_from_collection")),
            t.file.load_id,
            TUBE_ROW,
        )
        for t, gating, a in kept
    ]
    _append(con, FCS_FILES, list(FCS_COLUMNS), files)
    statistics = []
    for t, _, a in kept:
        names = lab_names(t.file.folder)
        for g in a.gates:
            path = gate_path_of(names, g.path)
            statistics += [
                (t.key, path, COUNT, float(g.count), t.file.load_id, TUBE_ROW),
                (t.key, path, FREQ_PARENT, _percent(g.count, g.parent_count), t.file.load_id, TUBE_ROW),
                (t.key, path, FREQ_TOTAL, _percent(g.count, g.total), t.file.load_id, TUBE_ROW),
            ]
    return store_statistics(con, statistics)


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def _append(con, table: str, columns: list[str], rows: list[tuple]) -> None:
    """Rows into the named columns (a raw table may hold more, added by a later version)."""
    if not rows:
        return
    con.register("_fcs_insert", pd.DataFrame(rows, columns=columns, dtype=object))
    try:
        names = ", ".join(map(quote, columns))
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _fcs_insert")
    finally:
        con.unregister("_fcs_insert")

"""Is this warehouse built from synthetic data, and may the demo cohort be written here?

Synthetic patients never pass for real ones, and never land beside them:

- The demo cohort is written only on request (`cartwh run --demo`, what `make run` does) and only
  into a data folder that has never held anything (`never_held_anything`: no warehouse, no
  published copy, no archive, no file in the landing folder) while no real pseudonym key is set
  (`real_key_set`). Anything else is a programme's own data folder: a run there ingests what has
  landed, and an empty landing folder is a night with nothing new.
- The generator marks every landing folder it writes (MARKER, a hidden file that ingestion does
  not list). Ingestion copies the mark into the archive (so `cartwh rebuild` keeps it) and writes
  the warehouse's origin into `ops.data_origin`, which the published copy carries; the study
  report, the data-quality page and the data manager's report show BANNER.
- A synthetic landing folder meeting a warehouse that already holds real deliveries is refused
  before anything is read (SyntheticBesideReal), like a run under another pseudonym key. The
  reverse, real exports copied into a synthetic data folder, is synthetic from then on: the mark
  stays, and every output keeps saying so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb

from cartwh.pseudonym import SECRET_FILE_VARIABLE, SECRET_VARIABLE
from cartwh.warehouse import schema

MARKER = ".cartwh-synthetic.json"  # in the landing folder the generator wrote
ARCHIVE_MARKER = "synthetic.json"  # its copy in the archive, for rebuilds
ORIGIN = "ops.data_origin"
BANNER = (
    "Synthetic data: this warehouse was built from the generator's demo cohort, not from patients. "
    "Nothing in it describes a real person or a real programme."
)


class SyntheticBesideReal(Exception):
    """A synthetic landing folder met a warehouse holding real deliveries: nothing is ingested."""


def mark_landing(landing: Path, description: str) -> None:
    """The generator's mark on a landing folder it wrote."""
    Path(landing).mkdir(parents=True, exist_ok=True)
    (Path(landing) / MARKER).write_text(json.dumps({"generator": "cartwh generate", "what": description}) + "\n")


def _mark(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def real_key_set() -> bool:
    return bool(os.environ.get(SECRET_VARIABLE) or os.environ.get(SECRET_FILE_VARIABLE))


def files_in(landing: Path) -> list[Path]:
    """Every file of the landing folder but hidden ones (the generator's mark, partial transfers)."""
    landing = Path(landing)
    if not landing.is_dir():
        return []
    return [
        p
        for p in sorted(landing.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(landing).parts)
    ]


def never_held_anything(landing: Path, warehouse: Path, published: Path, archive: Path) -> bool:
    """A data folder a programme has never used: the only place the demo cohort may be written."""
    archived = Path(archive).is_dir() and any(p.is_file() for p in Path(archive).rglob("*"))
    return not (Path(warehouse).exists() or Path(published).exists() or archived or files_in(landing))


def record_origin(con: duckdb.DuckDBPyConnection, landing: Path, archive: Path) -> bool:
    """Before ingestion reads anything: whether this warehouse is synthetic, kept in the archive and
    in ops.data_origin. Raises SyntheticBesideReal when a synthetic landing folder meets a warehouse
    that already holds real deliveries."""
    landing_mark, archive_mark = _mark(Path(landing) / MARKER), _mark(Path(archive) / ARCHIVE_MARKER)
    if landing_mark and not archive_mark and _holds_deliveries(con):
        raise SyntheticBesideReal(
            f"The landing folder {landing} holds the generator's synthetic demo cohort ({MARKER}), but this "
            "warehouse holds real deliveries: synthetic patients never land beside real ones. Nothing was "
            "ingested. Generate the demo into a data folder of its own (CARTWH_DATA=/tmp/demo cartwh run --demo)."
        )
    if landing_mark and not archive_mark:
        Path(archive).mkdir(parents=True, exist_ok=True)
        (Path(archive) / ARCHIVE_MARKER).write_text(json.dumps(landing_mark) + "\n")
    mark = archive_mark or landing_mark
    schema.replace(con, ORIGIN)  # declared in cartwh.warehouse.schema, rewritten whole
    note = f"{BANNER} ({mark.get('what', 'generated')})" if mark else "Real deliveries: the programme's own exports."
    con.execute(f"INSERT INTO {ORIGIN} VALUES (?, ?)", [mark is not None, note])
    return mark is not None


def _holds_deliveries(con: duckdb.DuckDBPyConnection) -> bool:
    return schema.has_table(con, "raw.landed_files") and bool(
        con.execute("SELECT 1 FROM raw.landed_files LIMIT 1").fetchall()
    )


def is_synthetic(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse `con` reads was built from the demo cohort (ops.data_origin)."""
    if not schema.has_table(con, ORIGIN):  # read-only: a warehouse or copy from before the table
        return False
    return bool(con.execute(f"SELECT bool_or(synthetic) FROM {ORIGIN}").fetchall()[0][0])


def banner(con: duckdb.DuckDBPyConnection) -> str | None:
    """What every page built from this warehouse says on top: BANNER for the demo, else nothing."""
    return BANNER if is_synthetic(con) else None

"""What each file version a batch loads is recorded as, inside the batch's transaction
(cartwh.ingest.load): where each of its records went, the rows it added to each raw table, its copy
in the archive, and its row in raw.landed_files, the warehouse's ledger of file versions. A new
version supersedes the current one of the same file, whose rows stay in raw.

Every CSV record of each file is accounted for (read = landed + quarantined + skipped, see
`account_for_records`); a file whose records do not add up fails whole. Each version is archived by
checksum, so a rebuild never depends on the landing folder.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cartwh.ingest.csv_reader import BATCH, RECORDS, SKIPPED, ExportFile
from cartwh.ingest.errors import ExportError
from cartwh.ingest.validation import PROBLEMS
from cartwh.ingest.warehouse import LANDED_FILES, RawTable, insert_rows, quote_table

_COLUMNS = (
    "load_id, source, file, sha256, bytes, rows_loaded, rows_quarantined, archive_path, "
    "records_read, rows_landed, records_skipped"
)


@dataclass(frozen=True)
class Account:
    """Where each CSV record of one file version went. A data row is *landed* when it is in a raw
    table and has no problem; *quarantined* when it has at least one problem (a REDCap row set
    aside for one form may still have landed in the others: it counts here, once); *skipped*
    when it is not data (the header, blank records, summary rows, REDCap record rows without
    form data)."""

    read: int
    landed: int
    quarantined: int
    skipped: int


def account_for_records(
    con: duckdb.DuckDBPyConnection, tables: list[RawTable], files: list[ExportFile]
) -> dict[int, Account]:
    """Count where each file's records went, each from where it went (raw tables, PROBLEMS,
    SKIPPED), never by difference, so a lost row or a row number used twice shows as an
    imbalance; fail a file whole when read != landed + quarantined + skipped."""
    first = min(f.load_id for f in files)  # a batch's load ids are the newest
    in_raw = " UNION ".join(
        f"SELECT DISTINCT _load_id AS load_id, _source_row AS row FROM {quote_table(t.table)} WHERE _load_id >= $first"
        for t in tables
    )
    counted = con.execute(
        f"""WITH raw_rows AS ({in_raw or "SELECT NULL::BIGINT AS load_id, NULL::BIGINT AS row WHERE FALSE"}),
                 problem_rows AS (SELECT DISTINCT load_id, row FROM {PROBLEMS} WHERE row > 1),
                 skipped_rows AS (SELECT DISTINCT load_id, row FROM {SKIPPED}),
                 landed AS (SELECT * FROM raw_rows EXCEPT SELECT * FROM problem_rows),
                 anywhere AS (SELECT * FROM raw_rows UNION SELECT * FROM problem_rows UNION SELECT * FROM skipped_rows),
                 per_file AS (SELECT load_id, 'landed' AS kind, count(*) AS n FROM landed GROUP BY 1
                              UNION ALL SELECT load_id, 'quarantined', count(*) FROM problem_rows GROUP BY 1
                              UNION ALL SELECT load_id, 'skipped', count(*) FROM skipped_rows GROUP BY 1
                              UNION ALL SELECT a.load_id, 'accounted', count(*) FROM anywhere a
                                        JOIN {RECORDS} r ON r.load_id = a.load_id AND a.row BETWEEN 1 AND r.records
                                        GROUP BY 1)
            SELECT r.load_id, r.records, p.kind, p.n FROM {RECORDS} r LEFT JOIN per_file p USING (load_id)""",
        {"first": first},
    ).fetchall()
    tally: dict[int, dict[str, int]] = {}
    for load_id, records, kind, n in counted:
        tally.setdefault(load_id, {"read": records})[kind or "read"] = n if kind else records
    accounts = {}
    for file in files:
        t = tally.get(file.load_id, {})
        read, landed, quarantined, skipped = (t.get(k, 0) for k in ("read", "landed", "quarantined", "skipped"))
        unaccounted = read - t.get("accounted", 0)
        if unaccounted or landed + quarantined + skipped != read:
            raise ExportError(
                file.name,
                f"records do not add up, nothing loaded: {read} read, but {landed} landed "
                f"+ {quarantined} quarantined + {skipped} skipped ({unaccounted} in none of them)",
            )
        accounts[file.load_id] = Account(read, landed, quarantined, skipped)
    return accounts


def rows_loaded(
    con: duckdb.DuckDBPyConnection, tables: list[RawTable], load_ids: list[int]
) -> dict[int, dict[str, int]]:
    """Rows each file of the batch added to each raw table (load ids of a batch are the newest)."""
    rows = {load_id: dict.fromkeys((t.name for t in tables), 0) for load_id in load_ids}
    for table in tables:
        for load_id, count in con.execute(
            f"SELECT _load_id, sum({table.rows}) FROM {quote_table(table.table)} WHERE _load_id >= ? GROUP BY 1",
            [load_ids[0]],
        ).fetchall():
            rows[load_id][table.name] = int(count)
    return rows


def record_landed(
    con: duckdb.DuckDBPyConnection,
    source: str,
    files: list[ExportFile],
    rows: dict[int, dict[str, int]],
    accounts: dict[int, Account],
    archive: Path,
) -> list[str]:
    """Archive the batch's versions and add their rows to raw.landed_files, superseding the current
    version of each of their files; return the files superseded, in name order."""
    superseding = [
        r[0]
        for r in con.execute(
            f"""UPDATE {LANDED_FILES} l SET superseded_by = b.load_id FROM {BATCH} b
            WHERE l.source = ? AND l.file = b.file AND l.superseded_by IS NULL RETURNING l.file""",
            [source],
        ).fetchall()
    ]
    ledger = [
        (
            f.load_id,
            source,
            f.name,
            f.checksum,
            f.bytes,
            sum(rows[f.load_id].values()),
            accounts[f.load_id].quarantined,
            str(_archive(f.path, f.checksum, archive)),
            accounts[f.load_id].read,
            accounts[f.load_id].landed,
            accounts[f.load_id].skipped,
        )
        for f in files
    ]
    con.execute(f"CREATE OR REPLACE TEMP TABLE _ledger AS SELECT {_COLUMNS} FROM {LANDED_FILES} LIMIT 0")
    insert_rows(con, "_ledger", ledger)
    con.execute(f"INSERT INTO {LANDED_FILES} ({_COLUMNS}, loaded_at) SELECT *, current_timestamp FROM _ledger")
    return sorted(set(superseding))


def _archive(path: Path, checksum: str, archive: Path) -> Path:
    """Keep every ingested version by content, so a rebuild never depends on the landing folder.
    `path` is the private copy: the bytes that were checksummed and parsed."""
    target = Path(archive) / checksum[:2] / f"{checksum}{path.suffix}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".partial")
        shutil.copyfile(path, tmp)
        tmp.replace(target)
    return target

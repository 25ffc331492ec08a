"""Recovery: the archive's own ledger (cartwh/warehouse/archive_ledger.py) appended durably, in load
order, never holding a failed batch; and every known failure told in one sentence
(cartwh/night/failures.py). Rebuilding, damaged warehouses, full disks and interrupted runs:
tests/e2e/test_recovery.py."""

import pytest

from cartwh.ingest.load import ingest_source
from cartwh.ingest.warehouse import connect, insert_rows
from cartwh.warehouse.archive_ledger import ArchiveLedger, LedgerEntry, LedgerError, append_entries, read_ledger


def _entry(name: str, sha: str) -> LedgerEntry:
    return LedgerEntry("redcap", name, sha, 10, f"{sha[:2]}/{sha}.csv", "2026-11-30T02:00:00")


# --- the archive's ledger -----------------------------------------------------------------


def test_ledger_is_appended_durably_and_survives_a_torn_last_line(tmp_path):
    append_entries(tmp_path, [_entry("redcap/a.csv", "aa" * 32), _entry("redcap/b.csv", "bb" * 32)])
    with open(tmp_path / "ledger.jsonl", "ab") as handle:
        handle.write(b'{"source": "redcap", "file": "redcap/c.cs')  # a crash in the middle of an append
    assert [e.file for e in read_ledger(tmp_path)] == ["redcap/a.csv", "redcap/b.csv"]
    append_entries(tmp_path, [_entry("redcap/c.csv", "cc" * 32)])  # cuts the torn line off first
    assert [e.file for e in read_ledger(tmp_path)] == ["redcap/a.csv", "redcap/b.csv", "redcap/c.csv"]
    lines = (tmp_path / "ledger.jsonl").read_bytes().split(b"\n")
    lines[0] = b"garbage"
    (tmp_path / "ledger.jsonl").write_bytes(b"\n".join(lines))
    with pytest.raises(LedgerError, match="line 1"):  # damage anywhere else is an error, not a skip
        read_ledger(tmp_path)


def test_ledger_follows_the_warehouse_as_a_multiset_in_load_order(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    a, b = "aa" * 32, "bb" * 32
    landed = [
        (1, "redcap", "redcap/x.csv", a, 10, 1, 0, "2026-11-01", f"/old/archive/aa/{a}.csv", 2, 2, 1, 1),
        (2, "redcap", "redcap/x.csv", b, 10, 1, 0, "2026-11-02", f"/old/archive/bb/{b}.csv", 3, 2, 1, 1),
        (3, "redcap", "redcap/x.csv", a, 10, 1, 0, "2026-11-03", f"/old/archive/aa/{a}.csv", None, 2, 1, 1),
    ]  # A, B, A again
    insert_rows(con, "raw.landed_files", landed)
    archive = tmp_path / "archive"
    assert ArchiveLedger(archive).sync(con) == 3  # seeded from raw.landed_files
    assert [(e.sha256, e.archive_path) for e in read_ledger(archive)] == [
        (a, f"aa/{a}.csv"),
        (b, f"bb/{b}.csv"),
        (a, f"aa/{a}.csv"),
    ]
    assert ArchiveLedger(archive).sync(con) == 0  # already held: A twice is matched twice
    # committed, then killed before the append: the next ingestion's first sync adds just that one
    insert_rows(
        con,
        "raw.landed_files",
        [(4, "redcap", "redcap/y.csv", b, 10, 1, 0, "2026-11-04", f"/a/bb/{b}.csv", None, 2, 1, 1)],
    )
    assert ArchiveLedger(archive).sync(con) == 1
    assert [e.file for e in read_ledger(archive)][-1] == "redcap/y.csv"
    con.close()


def test_a_failed_batch_never_reaches_the_ledger(tmp_path):
    landing = tmp_path / "landing"
    (landing / "redcap").mkdir(parents=True)
    (landing / "redcap" / "broken.csv").write_text("")  # cannot be read: rolled back, retried next run
    con = connect(tmp_path / "w.duckdb")
    report = ingest_source(con, landing, "redcap", tmp_path / "archive", raise_on_failure=False)
    assert report.failures and read_ledger(tmp_path / "archive") == []
    con.close()


# --- the sentences ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, opening",
    [
        # DuckDB 2.0 on a full 600 KB tmpfs, at COMMIT
        (
            'TransactionException: TransactionContext Error: Failed to commit: Could not write file "/d/w.duckdb": '
            "No space left on device",
            "the disk is full",
        ),
        ("OSError: [Errno 28] No space left on device: '/d/archive/ab/ab.partial'", "the disk is full"),
        # dbt wraps DuckDB's error in lines of its own
        (
            "Failure: dbt build failed.\nDatabase Error in model patients\n  IO Error: Could not write file "
            '"/d/w.duckdb.wal": No space left on device',
            "the disk is full",
        ),
        (
            'IOException: IO Error: Failure while replaying WAL file "/d/w.duckdb.wal": WAL does not match database file.',
            "a warehouse file is damaged",
        ),
        (
            "Error: Corrupt database file: computed checksum 5919354292321018668 does not match stored checksum "
            "2540703578122576776 in block at location 274432",
            "a warehouse file is damaged",
        ),
        (
            'IOException: IO Error: Could not read enough bytes from file "/d/w.duckdb": attempted to read 3192 bytes '
            "from location 5000",
            "a warehouse file is damaged",
        ),
        ("DagsterExecutionInterruptedError: ", "interrupted (Ctrl-C or SIGTERM)"),
        # Dagster 1.13 when a blocking check fails (the faulty cohort's run log)
        (
            "DagsterAssetCheckFailedError: dagster._core.errors.DagsterAssetCheckFailedError: 1 blocking asset check failed "
            "with ERROR severity:\nmarts/patients: marts_patients\n\nStack Trace:\n  File ...",
            "blocked by a failed blocking data-quality check (marts_patients on marts/patients): ",
        ),
        ("ValueError: something else\n  with detail", "ValueError: something else"),
    ],
)
def test_each_known_failure_is_one_sentence(text, opening):
    from cartwh.night.failures import describe

    sentence = describe(text)
    assert sentence.startswith(opening) and "\n" not in sentence
    if opening == "a warehouse file is damaged":
        assert "run `cartwh rebuild`" in sentence

"""A full disk ends a night in one sentence with its cause (issue 28, item 11), on a real full
volume: a tmpfs of a few megabytes mounted in a private mount namespace (`unshare -rm`, no root
needed where the kernel allows user namespaces; skipped elsewhere). The whole data folder's volume
full before anything could be written, then, once freed, the published copy's volume full at
publication (two nights of one test, each night a whole `cartwh run`): neither leaves a traceback, a half-written copy, or a run recorded as killed. (Full disks simulated
by ENOSPC at the archive ledger and at publication: tests/e2e/test_recovery.py.)"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from cartwh.night import run_marker
from tests.conftest import data_env
from tests.paths import ROOT

CARTWH = str(Path(sys.executable).with_name("cartwh"))


def _namespaces() -> bool:
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mkdir -p /tmp/.cartwh-ns && mount -t tmpfs -o size=64k tmpfs /tmp/.cartwh-ns"],
        capture_output=True,
    )
    return probe.returncode == 0


needs_namespaces = pytest.mark.skipif(not _namespaces(), reason="no user and mount namespaces here (unshare -rm)")


def _on_small_volumes(volumes: list[tuple[Path, int]], then: str, data: Path) -> None:
    """Run the shell commands `then` with each folder of `volumes` (its content kept) on a tmpfs of
    its size in kB, mounted in order (a later folder may lie inside an earlier one)."""
    script = "set -e; "
    for folder, size_kb in volumes:
        saved = folder.parent / f".{folder.name}.saved"
        saved.mkdir()
        script += (
            f"cp -a {shlex.quote(str(folder))}/. {shlex.quote(str(saved))}/; "
            f"mount -t tmpfs -o size={size_kb}k tmpfs {shlex.quote(str(folder))}; "
            f"cp -a {shlex.quote(str(saved))}/. {shlex.quote(str(folder))}/; "
        )
    subprocess.run(["unshare", "-rm", "sh", "-c", script + then], env=data_env(data), check=True, timeout=1800)


def _history(working: Path) -> list[tuple]:
    con = duckdb.connect(str(working), read_only=True)
    try:
        return con.execute("SELECT run_id, status, message FROM ops.run_history ORDER BY started_at").fetchall()
    finally:
        con.close()


def _history_into(working: Path, out: Path) -> str:
    """A shell command writing the run history as JSON to `out` (read inside the small volume)."""
    code = f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from tests.e2e.test_full_disk import _history; "
    code += f"open({str(out)!r}, 'w').write(json.dumps(_history({str(working)!r}), default=str))"
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def _run(out: Path) -> str:
    """`cartwh run`, its exit code, stdout and stderr kept in `out` (outside the small volume)."""
    # `|| echo $?`: the script runs under `set -e`, and a night on a full disk exits 1
    return f"{CARTWH} run > {out}.out 2> {out}.err && echo 0 > {out}.rc || echo $? > {out}.rc"


@needs_namespaces
def test_a_full_disk_ends_a_night_in_one_sentence_and_once_freed_the_next_night_runs(demo_copy, tmp_path):
    """Two small volumes, as a site may have them: the data folder's, and inside it the published
    copy's, with no room for a new copy. The data volume full, the night stops at its start; the
    filler removed, the next night runs to publication, where the published volume is full: it too
    ends in one sentence, and the analysts' copy stays as it was, with nothing left beside it."""
    published, working = demo_copy / "published", demo_copy / "warehouse.duckdb"
    before, history = hashlib.sha256((published / "warehouse.duckdb").read_bytes()).hexdigest(), _history(working)
    room = sum(p.stat().st_size for p in demo_copy.rglob("*") if p.is_file()) // 1024 + 64 * 1024  # a night's room
    published_room = sum(p.stat().st_size for p in published.iterdir()) // 1024 + 512  # no new copy fits
    full, freed, recorded = tmp_path / "full", tmp_path / "freed", tmp_path / "history.json"
    filler = demo_copy / "filler"
    _on_small_volumes(
        [(demo_copy, room), (published, published_room)],
        f"dd if=/dev/zero of={filler} bs=64k 2>/dev/null || true; {_run(full)}; rm {filler}; {_run(freed)}; "
        f"ls -A {published} > {freed}.ls; sha256sum {published}/warehouse.duckdb > {freed}.sha; "
        + _history_into(working, recorded),
        demo_copy,
    )
    err = Path(f"{full}.err").read_text().strip().splitlines()
    assert Path(f"{full}.rc").read_text().strip() == "1" and len(err) == 2
    assert err[0].startswith("The run stopped: the disk is full (the volume of ") and err[1].startswith("Log: ")

    err = Path(f"{freed}.err").read_text().strip().splitlines()
    assert Path(f"{freed}.rc").read_text().strip() == "1"  # it ran: up to publication
    assert err[-2].startswith(
        f"FAILED: published__warehouse: the disk is full (the volume of {published}/.publishing/warehouse.duckdb): "
    ) and err[-2].endswith("free space, then run again.")
    assert not any("Traceback" in line for line in err)
    assert Path(f"{freed}.ls").read_text().split() == ["warehouse.duckdb", "warehouse.duckdb.last-unpublished-run.json"]
    assert Path(f"{freed}.sha").read_text().split()[0] == before  # the analysts' copy as it was

    nights = json.loads(recorded.read_text())
    assert [run_id for run_id, _, _ in nights[: len(history)]] == [run_id for run_id, _, _ in history]
    # the full night never started; the freed one ran and failed at publication, in its sentence
    assert [(status, message) for _, status, message in nights[len(history) :]] == [
        ("failed", err[-2].removeprefix("FAILED: "))
    ]
    assert all(message != run_marker.KILLED for _, _, message in nights)

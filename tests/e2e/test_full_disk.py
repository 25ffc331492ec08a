"""A full disk ends a night in one sentence with its cause (issue 28, item 11), on a real full
volume: a tmpfs of a few megabytes mounted in a private mount namespace (`unshare -rm`, no root
needed where the kernel allows user namespaces; skipped elsewhere). The published copy's volume
full at publication, and the whole data folder's volume full before anything could be written:
neither leaves a traceback, a half-written copy, or a run recorded as killed. (Full disks simulated
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


def _on_a_small_volume(folder: Path, size_kb: int, then: str, data: Path) -> None:
    """Run the shell commands `then` with `folder` (its content kept) on a tmpfs of `size_kb`."""
    saved = folder.parent / f".{folder.name}.saved"
    script = (
        f"set -e; cp -a {shlex.quote(str(folder))}/. {shlex.quote(str(saved))}/; "
        f"mount -t tmpfs -o size={size_kb}k tmpfs {shlex.quote(str(folder))}; "
        f"cp -a {shlex.quote(str(saved))}/. {shlex.quote(str(folder))}/; {then}"
    )
    saved.mkdir()
    subprocess.run(["unshare", "-rm", "sh", "-c", script], env=data_env(data), check=True, timeout=1800)


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
def test_a_full_volume_at_publication_ends_in_one_sentence_and_leaves_nothing_behind(demo_copy, tmp_path):
    published, working = demo_copy / "published", demo_copy / "warehouse.duckdb"
    before, history = hashlib.sha256((published / "warehouse.duckdb").read_bytes()).hexdigest(), _history(working)
    room = sum(p.stat().st_size for p in published.iterdir()) // 1024 + 512  # half a megabyte more: no new copy fits
    evidence = tmp_path / "night"
    _on_a_small_volume(
        published,
        room,
        f"{_run(evidence)}; ls -A {published} > {evidence}.ls; sha256sum {published}/warehouse.duckdb > {evidence}.sha",
        demo_copy,
    )
    err = Path(f"{evidence}.err").read_text().strip().splitlines()
    assert Path(f"{evidence}.rc").read_text().strip() == "1"
    assert err[-2].startswith(
        f"FAILED: published__warehouse: the disk is full (the volume of {published}/.publishing/warehouse.duckdb): "
    ) and err[-2].endswith("free space, then run again.")
    assert not any("Traceback" in line for line in err)
    assert Path(f"{evidence}.ls").read_text().split() == [
        "warehouse.duckdb",
        "warehouse.duckdb.last-unpublished-run.json",
    ]
    assert Path(f"{evidence}.sha").read_text().split()[0] == before  # the analysts' copy as it was
    (run_id, status, message) = _history(working)[-1]
    assert _history(working)[:-1] == history and status == "failed"
    assert message == err[-2].removeprefix("FAILED: ")


@needs_namespaces
def test_a_full_data_volume_stops_the_night_in_one_sentence_and_the_next_night_runs(demo_copy, tmp_path):
    working, history = demo_copy / "warehouse.duckdb", _history(demo_copy / "warehouse.duckdb")
    first, second = tmp_path / "full", tmp_path / "freed"
    room = sum(p.stat().st_size for p in demo_copy.rglob("*") if p.is_file()) // 1024 + 64 * 1024  # a night's room
    filler = demo_copy / "filler"
    recorded = tmp_path / "history.json"
    _on_a_small_volume(
        demo_copy,
        room,
        f"dd if=/dev/zero of={filler} bs=64k 2>/dev/null || true; {_run(first)}; rm {filler}; {_run(second)}; "
        + _history_into(working, recorded),
        demo_copy,
    )
    err = Path(f"{first}.err").read_text().strip().splitlines()
    assert Path(f"{first}.rc").read_text().strip() == "1" and len(err) == 2
    assert err[0].startswith("The run stopped: the disk is full (the volume of ") and err[1].startswith("Log: ")
    assert Path(f"{second}.rc").read_text().strip() == "0"  # space freed: the next night runs and publishes
    nights = json.loads(recorded.read_text())
    assert [status for _, status, _ in nights[len(history) :]] == ["published"]  # the full night never started
    assert all(message != run_marker.KILLED for _, _, message in nights)

"""Stop this process's children (an interrupted run's dbt), so no writer outlives the run.

dagster-dbt forwards an interrupt to dbt only when it arrives while it is reading dbt's output;
one that arrives between two events leaves dbt running, writing the warehouse after the run let
go of its lock. Children are found through /proc (Linux); elsewhere this does nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)


def child_processes(pid: int | None = None) -> list[int]:
    """Every descendant of `pid` (this process by default), children first."""
    parent = os.getpid() if pid is None else pid
    parents = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            parents.setdefault(int(fields["PPid"]), []).append(int(status.parent.name))
        except (OSError, KeyError, ValueError):
            continue  # gone meanwhile
    found, frontier = [], [parent]
    while frontier:
        children = [c for p in frontier for c in parents.get(p, [])]
        found += children
        frontier = children
    return found


def stop_child_processes(grace_seconds: float = 10.0) -> list[int]:
    """SIGINT every descendant (dbt then rolls back and closes the warehouse), SIGKILL any that
    is still there after `grace_seconds`; the ids that were stopped."""
    children = child_processes()
    for pid in children:
        _signal(pid, signal.SIGINT)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.2)
    for pid in children:
        if _alive(pid):
            log.warning("process %d did not stop after an interrupt: killing it", pid)
            _signal(pid, signal.SIGKILL)
    return children


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap our own children, so they do not linger as zombies
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass

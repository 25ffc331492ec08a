"""dbt's target folder: dagster-dbt gives every build a folder of its own in it
(`<step>-<run id>-<random>`: its run_results.json, manifest and dbt.log), about 16 MB each, which
nothing removes. After each build the newest `KEEP` stay (the last builds' results and logs, for
whoever looks into one), the older ones go; the project's own files (manifest.json, the docs
site) are never touched."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

KEEP = 3
_BUILD_FOLDER = re.compile(r"[a-z_]+-[0-9a-f]{7}-[0-9a-f]{7}")


def prune_build_folders(target: Path, keep: int = KEEP) -> list[Path]:
    """Remove all but the newest `keep` build folders of `target`; return those removed."""
    builds = [p for p in Path(target).iterdir() if p.is_dir() and _BUILD_FOLDER.fullmatch(p.name)]
    builds.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in builds[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return builds[keep:]

"""dbt's target folder of the nights' builds (cartwh.settings.dbt_target_dir, in the data folder):
dagster-dbt gives every build a folder of its own in it (`<step>-<run id>-<random>`: its
run_results.json, manifest and dbt.log), about 16 MB each, which nothing removes. After each build
the newest `KEEP` stay (the last builds' results and logs, for whoever looks into one), the older
ones go; other files are never touched.

dbt starts from the parse in that folder (`partial_parse.msgpack`, each night's kept for the next)
and parses the project again when its profile differs from the parse's: the warehouse's path is
part of the profile. A data folder's first build starts from the parse `make install` prepared in
dbt_project/target, with the settings of the default data folder, so its first `make run` does not
parse again; another data folder parses once, at its first night."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

KEEP = 3
_BUILD_FOLDER = re.compile(r"[a-z_]+-[0-9a-f]{7}-[0-9a-f]{7}")


PARSE = "partial_parse.msgpack"


def start_from_project_parse(project_target: Path, target: Path) -> None:
    """A data folder's first build: the project's parse, when the data folder has none yet."""
    parse = Path(project_target) / PARSE
    if parse.exists() and not (Path(target) / PARSE).exists():
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(parse, Path(target) / PARSE)


def keep_parse(build: Path) -> None:
    """A build's parse, for the next night's dbt to start from (dagster-dbt copies the target
    folder's partial_parse.msgpack into each build's folder); replaced whole, never half-written."""
    parse = Path(build) / PARSE
    if parse.exists():
        kept = Path(build).parent / PARSE
        shutil.copyfile(parse, kept.with_suffix(".partial"))
        kept.with_suffix(".partial").replace(kept)


def prune_build_folders(target: Path, keep: int = KEEP) -> list[Path]:
    """Remove all but the newest `keep` build folders of `target`; return those removed."""
    builds = [p for p in Path(target).iterdir() if p.is_dir() and _BUILD_FOLDER.fullmatch(p.name)]
    builds.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in builds[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return builds[keep:]

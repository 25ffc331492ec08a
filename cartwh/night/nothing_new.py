"""Has anything changed since the last night that published? If not, a night has nothing to do.

A night's inputs are every file of the landing folder (its path, size and modification time: a
file rewritten in place changes its time) and what the night computes with: the code, the dbt
project and its seeds, the analysis plan (each source file's path, size and time). A night
carries the fingerprint of its inputs, taken before it reads anything (the run's tag TAG), and
records it when it publishes (`record`, beside the working warehouse). The next `cartwh run`,
nightly schedule or landing-sensor tick whose inputs have that fingerprint, and after which no
night ended without publishing, says "nothing new" and starts nothing (`nothing_new`): seconds,
where a full night rebuilds everything for no row added.

With a REDCap pull configured the night's data are not in the landing folder until the pull
has run, so every night runs. `cartwh run --force` runs anyway.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cartwh import settings
from cartwh.night.published_night import latest_unpublished

TAG = "cartwh/inputs"  # the run tag holding the fingerprint of the night's inputs
# What a night computes with, besides the landing folder (the dbt project's target/ is output).
_COMPUTED_WITH = (
    "cartwh",
    "assets",
    "orchestration",
    "expectations",
    "dbt_project/models",
    "dbt_project/seeds",
    "dbt_project/macros",
    "dbt_project/tests",
    "dbt_project/dbt_project.yml",
    "dbt_project/profiles.yml",
)


def fingerprint(landing: Path) -> str:
    """The fingerprint of a night's inputs: only file metadata is read, so it costs a directory walk."""
    digest = hashlib.sha256()
    roots = [("landing", Path(landing)), ("plan", settings.analyses_path())]
    roots += [(name, settings.PROJECT_ROOT / name) for name in _COMPUTED_WITH]
    for name, root in roots:
        for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if "__pycache__" in path.parts or not path.is_file():
                continue
            stat = path.stat()
            digest.update(f"{name}|{path.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def record_path(warehouse: Path) -> Path:
    warehouse = Path(warehouse)
    return warehouse.with_name(warehouse.name + ".published-inputs.json")


def record(warehouse: Path, inputs: str, run_id: str) -> None:
    """A night published from these inputs (written to a temporary name and renamed)."""
    path = record_path(warehouse)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(json.dumps({"inputs": inputs, "run_id": run_id}), encoding="utf-8")
    temporary.replace(path)


def nothing_new(landing: Path, inputs: str, warehouse: Path, published: Path, pulls: bool) -> str | None:
    """The sentence to say when the night has nothing to do, else None."""
    try:
        last = json.loads(record_path(warehouse).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if pulls or last.get("inputs") != inputs or not Path(published).exists():
        return None
    if latest_unpublished(Path(published), Path(warehouse)) is not None:
        return None
    return (
        f"Nothing new: the landing folder ({landing}), the code and the analysis plan are as they were when run "
        f"{str(last.get('run_id'))[:8]} published {published}; nothing was run (`cartwh run --force` runs anyway)."
    )

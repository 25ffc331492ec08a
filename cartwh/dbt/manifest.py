"""What the dbt project declares, read from its manifest (`dbt parse` writes it at build time,
`make install`): reading it parses no dbt, so the code location and the CLI stay light."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from cartwh.settings import PROJECT_ROOT

MANIFEST = PROJECT_ROOT / "dbt_project" / "target" / "manifest.json"
PROJECT_FILE = PROJECT_ROOT / "dbt_project" / "dbt_project.yml"


def models(manifest: Path = MANIFEST) -> list[dict]:
    """Every model node of the manifest."""
    return [n for n in json.loads(Path(manifest).read_text())["nodes"].values() if n["resource_type"] == "model"]


def layer(node: dict) -> str:
    """staging, intermediate or marts: the folder under models/ a model is in."""
    return node["fqn"][1]


def mart_names(manifest: Path = MANIFEST) -> tuple[str, ...]:
    """The models of models/marts, the analysts' interface: the one list of marts."""
    return tuple(sorted(n["name"] for n in models(manifest) if layer(n) == "marts"))


def raw_sources(manifest: Path = MANIFEST) -> tuple[str, ...]:
    """The raw tables the models read: the tables of dbt's `raw` source."""
    sources = json.loads(Path(manifest).read_text())["sources"].values()
    return tuple(sorted(s["name"] for s in sources if s["source_name"] == "raw"))


def raw_contract_version(project_file: Path = PROJECT_FILE) -> int:
    """The version of the raw layer's contract the models read (dbt_project.yml, var raw_contract_version)."""
    return int(yaml.safe_load(Path(project_file).read_text())["vars"]["raw_contract_version"])

"""The YAML files people edit (the analysis plan, the expectation suites), read into pydantic models.

A mistake is refused before anything runs, with one line per mistake naming the file and the path
of the entry in it (`analyses.yml: survival[2].by (by_bridging_group): ...`, the name being the
entry's own `name`, what a reader searches the file for), raised as the caller's error type so its
callers catch one exception whatever was wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)

# pydantic's wording where a shorter one says it (dataclass entries and models word these differently).
UNKNOWN = {"extra_forbidden", "unexpected_keyword_argument"}
MISSING = {"missing", "missing_argument", "missing_keyword_only_argument"}


def read(model: type[Model], path: Path, error: type[Exception]) -> Model:
    """The YAML file at `path` as `model`; a mistake, or text that is not YAML, raises `error`."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as failure:
        raise error(f"{path.name}: not valid YAML: {failure}") from None
    return validated(model, document, path.name, error)


def validated(model: type[Model], document: Any, file: str, error: type[Exception]) -> Model:
    try:
        return model.model_validate(document)
    except ValidationError as failure:
        raise error("\n".join(_line(e, document, file) for e in failure.errors())) from None


def _line(error: dict, document: Any, file: str) -> str:
    path, name, node = "", None, document
    for key in error["loc"]:
        path += f"[{key}]" if isinstance(key, int) else f".{key}" if path else str(key)
        node = _child(node, key)
        if isinstance(node, dict) and isinstance(node.get("name"), str):
            name = node["name"]
    if error["type"] in UNKNOWN:
        message = "unknown key"
    elif error["type"] in MISSING:
        message = "missing"
    elif error["type"] == "value_error":  # a rule of the model: its message as written there
        message = str(error["ctx"]["error"])
    else:
        message = error["msg"]
        if isinstance(error.get("input"), str | int | float | bool | None):
            message += f" (got {error['input']!r})"
    where = path + (f" ({name})" if name else "")
    return f"{file}: {where}: {message}" if where else f"{file}: {message}"


def _child(node: Any, key: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return None

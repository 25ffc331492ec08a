"""Render a report template to its file, atomically: a reader never opens half a page."""

from __future__ import annotations

import os
from pathlib import Path

import jinja2

_ENVIRONMENT = jinja2.Environment(loader=jinja2.PackageLoader("cartwh.report"), autoescape=True)


def write_page(template: str, path: Path, **context) -> Path:
    html = _ENVIRONMENT.get_template(template).render(**context)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(html, encoding="utf-8")
    os.replace(temporary, path)
    return path

"""How is an HTML page written? Every page of cartwh (the study report in cartwh/report/, the
data-quality pages in cartwh/quality/) renders a template of its own package's templates/ folder,
beside the partials all of them share (templates/ here: the synthetic-data banner), and is
written atomically: a reader never opens half a page."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

import jinja2

__all__ = ["page_writer"]


@cache
def page_writer(package: str) -> Callable[..., Path]:
    """`write_page(template, path, **context) -> path` for the templates of `package`."""
    loader = jinja2.ChoiceLoader([jinja2.PackageLoader(package), jinja2.PackageLoader(__name__)])
    environment = jinja2.Environment(loader=loader, autoescape=True)

    def write_page(template: str, path: Path, **context) -> Path:
        html = environment.get_template(template).render(**context)
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(html, encoding="utf-8")
        os.replace(temporary, path)
        return path

    return write_page

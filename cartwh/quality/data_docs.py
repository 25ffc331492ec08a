"""The Great Expectations validation results as static pages of cartwh's own: an index of every
validation and one page per validation with every expectation, its result and the values behind
a failure.

Why not GX's own Data Docs site: its pages load Bootstrap, jQuery, bootstrap-table, Vega,
Font Awesome and a datepicker from seven CDNs (the index table itself is drawn by JavaScript, so
opened as a file on a closed hospital network it is blank), and its navigation bar fetches the
vendor's logo with the data context id in the URL, a call home. Vendoring a dozen pinned
third-party assets and patching GX's templates would break silently at each GX upgrade. These
pages are plain HTML with inline CSS and no script: nothing is requested from anywhere, and they
read the same validation results GX stores (`gx/uncommitted/validations/**.json`), so nothing is
lost. Each result is rendered once (results never change); the index is rebuilt from small
summaries written beside the pages.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cartwh.pages import page_writer

write_page = page_writer("cartwh.quality")  # its templates/ folder

INDEX_ROWS = 500  # validations listed on the index, newest first; older pages stay on disk
VALUES_SHOWN = 20  # distinct failing values per expectation (their counts are GX's partial counts)
_NOT_SHOWN = {"batch_id"}  # GX's internal batch name, the same for every expectation of a suite


def data_docs_index(gx_root: Path) -> Path:
    """Where the site's index page is (the one path every caller links to)."""
    return Path(gx_root) / "data_docs" / "index.html"


def _results(gx_root: Path) -> list[Path]:
    return sorted((Path(gx_root) / "gx" / "uncommitted" / "validations").glob("*/*/*/*.json"))


def _page_of(result_file: Path, gx_root: Path) -> Path:
    """validations/<suite>/<run name>/<run time>/<file>.json -> data_docs/validations/<suite>/<run name>/<run time>.html"""
    relative = result_file.parent.relative_to(Path(gx_root) / "gx" / "uncommitted" / "validations")
    return data_docs_index(gx_root).parent / "validations" / relative.with_suffix(".html")


def _text(value) -> str:
    """A value as the page prints it: floats to 6 significant digits (85.4, not 85.39999999999999)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return (
            "["
            + ", ".join(_text(v) if not isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in value)
            + "]"
        )
    return json.dumps(value, default=str, ensure_ascii=False)


def _expectation_row(result: dict) -> dict:
    config, outcome = result["expectation_config"], result.get("result") or {}
    meta = config.get("meta") or {}
    exception = result.get("exception_info") or {}
    return {
        "position": meta.get("position"),
        "severity": meta.get("severity", ""),
        "why": meta.get("why", ""),
        "type": config["type"],
        "kwargs": {k: _text(v) for k, v in config.get("kwargs", {}).items() if k not in _NOT_SHOWN},
        "success": bool(result.get("success")),
        "observed": _text(outcome.get("observed_value")),
        "element_count": outcome.get("element_count"),
        "unexpected_count": outcome.get("unexpected_count"),
        "unexpected_percent": outcome.get("unexpected_percent"),
        "unexpected_values": [
            (_text(v["value"]), v["count"]) for v in (outcome.get("partial_unexpected_counts") or [])
        ][:VALUES_SHOWN],
        "error": exception.get("exception_message") if exception.get("raised_exception") else None,
    }


def _summary(validation: dict, rows: list[dict], page: Path, site: Path) -> dict:
    statistics, run = validation["statistics"], validation["meta"]["run_id"]
    return {
        "suite": validation["suite_name"],
        "run_name": run["run_name"],
        "validated_at": validation["meta"].get("validation_time") or run["run_time"],
        "success": bool(validation["success"]),
        "evaluated": statistics["evaluated_expectations"],
        "failed": statistics["unsuccessful_expectations"],
        "failed_blocking": sum(not r["success"] and r["severity"] == "blocking" for r in rows),
        "rows": max((r["element_count"] or 0 for r in rows), default=0),
        "page": page.relative_to(site).as_posix(),
    }


def _write_validation_page(result_file: Path, page: Path, site: Path) -> dict:
    validation = json.loads(result_file.read_text(encoding="utf-8"))
    # failures first (blocking before warn), then in the suite's order: what to look at is on top
    rows = sorted(
        (_expectation_row(r) for r in validation["results"]),
        key=lambda r: (r["success"], r["severity"] != "blocking", r["position"] is None, r["position"]),
    )
    summary = _summary(validation, rows, page, site)
    page.parent.mkdir(parents=True, exist_ok=True)
    up = "../" * (len(page.relative_to(site).parts) - 1)
    write_page("data_docs_validation.html.j2", page, v=summary, rows=rows, index=up + "index.html")
    page.with_suffix(".summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return summary


def write_data_docs(gx_root: Path) -> Path:
    """Render the validations not rendered yet, then the index; returns the index's path."""
    index = data_docs_index(gx_root)
    site = index.parent
    for result_file in _results(gx_root):
        page = _page_of(result_file, gx_root)
        if not page.with_suffix(".summary.json").exists():
            _write_validation_page(result_file, page, site)
    summaries = [json.loads(p.read_text(encoding="utf-8")) for p in site.glob("validations/**/*.summary.json")]
    summaries.sort(key=lambda s: s["validated_at"], reverse=True)
    latest = {}
    for s in summaries:  # newest first, so the first seen per suite is its latest validation
        latest.setdefault(s["suite"], s)
    site.mkdir(parents=True, exist_ok=True)
    write_page(
        "data_docs_index.html.j2",
        index,
        latest=sorted(latest.values(), key=lambda s: s["suite"]),
        validations=summaries[:INDEX_ROWS],
        total=len(summaries),
        shown=INDEX_ROWS,
    )
    # GX's own site (CDN assets, the vendor's tracking logo) from before these pages: not kept.
    shutil.rmtree(Path(gx_root) / "gx" / "uncommitted" / "data_docs", ignore_errors=True)
    return index

"""The project documents itself: its definitions page is its own (nothing cites a file outside the
repository, and every citation of docs/definitions.md names one of its sections). Every table
Python writes in the data dictionary: tests/e2e/test_offline_docs.py."""

import re
import subprocess
from pathlib import Path

from tests.paths import ROOT

DEFINITIONS = ROOT / "docs" / "definitions.md"
# a citation: docs/definitions.md, then a section's title in double quotes (escaped in YAML strings)
CITATION = re.compile(r'docs/definitions\.md \\?"([^"\\]+)\\?"')


def _tracked_files() -> list[Path]:
    names = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True).stdout
    return [ROOT / n for n in names.splitlines() if (ROOT / n).is_file()]


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # a binary file (a figure)


def test_no_file_cites_a_document_outside_the_repository():
    citing = [
        str(p.relative_to(ROOT))
        for p in _tracked_files()
        if "DOMAIN.md" in (_text(p) or "") and p != Path(__file__).resolve()
    ]
    assert citing == []


def test_every_citation_of_the_definitions_names_one_of_its_sections():
    sections = set(re.findall(r"^## (.+)$", DEFINITIONS.read_text(encoding="utf-8"), re.M))
    assert {
        "Tumour burden and its transition",
        "Undetectable MRD",
        "ALL-Hematotox score",
        "CAR-T expansion",
        "B-cell aplasia",
        "Endpoints",
        "Timepoint windows",
        "Statistics",
    } <= sections
    cited = {}
    for path in _tracked_files():
        for section in CITATION.findall(_text(path) or ""):
            section = " ".join(section.split())  # a citation may wrap in a comment or folded YAML
            cited.setdefault(section, set()).add(str(path.relative_to(ROOT)))
    assert set(cited) <= sections, {s: f for s, f in cited.items() if s not in sections}
    models = {f for files in cited.values() for f in files if f.startswith("dbt_project/models/")}
    assert len(models) >= 10  # the model documentation cites its definitions

"""The project documents itself: its definitions page is its own (nothing cites a file outside the
repository, and every citation of docs/definitions.md names one of its sections), and every table
Python writes (analytics, quality, ops) is in the data dictionary with every column described."""

import re
import subprocess
from pathlib import Path

import duckdb
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFINITIONS = ROOT / "docs" / "definitions.md"
PYTHON_SCHEMAS = ("analytics", "quality", "ops")
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


def _documented_sources() -> dict[str, dict[str, set[str]]]:
    """schema -> table -> columns with a description, from every sources block of the dbt project."""
    documented = {}
    for path in (ROOT / "dbt_project" / "models").rglob("*.yml"):
        for source in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("sources", []):
            for table in source.get("tables", []):
                assert table.get("description"), (source["name"], table["name"])
                documented.setdefault(source.get("schema", source["name"]), {})[table["name"]] = {
                    c["name"] for c in table.get("columns", []) if c.get("description")
                }
    return documented


def test_every_table_python_writes_is_documented_column_by_column(demo_warehouse):
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        written = con.execute(
            "SELECT table_schema, table_name, list(column_name ORDER BY ordinal_position) FROM information_schema.columns "
            f"WHERE table_schema IN {PYTHON_SCHEMAS} GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    documented = _documented_sources()
    assert {schema for schema, _, _ in written} == set(PYTHON_SCHEMAS)
    assert len(written) >= 16  # 12 analytics, 3 quality, 1 ops tables in the demo
    undocumented = {
        f"{schema}.{table}": sorted(set(columns) - documented.get(schema, {}).get(table, set()))
        for schema, table, columns in written
    }
    assert {t: c for t, c in undocumented.items() if c} == {}

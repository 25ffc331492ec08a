"""The JSON schemas editors check analyses.yml and the suite files against (docs/schemas/) are what
the models generate, so they never drift from what is accepted. After changing a model, rewrite
them: `make schemas` (python -m tests.unit.project.test_schemas)."""

import json

import pytest

from cartwh.study.analyses_file import AnalysesFile
from expectations.suites import SUITES_DIR, Suite
from tests.paths import ROOT

SCHEMAS = {
    ROOT / "docs" / "schemas" / "analyses.schema.json": AnalysesFile,
    ROOT / "docs" / "schemas" / "expectation-suite.schema.json": Suite,
}


def generated(model) -> str:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **model.model_json_schema()}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda path: path.name)
def test_the_committed_schema_is_what_the_model_generates(path):
    assert path.read_text(encoding="utf-8") == generated(SCHEMAS[path]), f"{path.name} is stale: make schemas"


def test_the_files_name_their_schema_for_editors():
    """yaml-language-server (VS Code's YAML extension, and others) reads the first line."""
    marker = "# yaml-language-server: $schema="
    first_line = {path: path.read_text(encoding="utf-8").splitlines()[0] for path in SUITES_DIR.glob("*.yml")}
    assert first_line and set(first_line.values()) == {f"{marker}../../docs/schemas/expectation-suite.schema.json"}
    analyses = (ROOT / "analyses.yml").read_text(encoding="utf-8").splitlines()[0]
    assert analyses == f"{marker}docs/schemas/analyses.schema.json"


if __name__ == "__main__":
    for path, model in SCHEMAS.items():
        path.write_text(generated(model), encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")

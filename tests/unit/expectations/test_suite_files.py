"""A suite file (expectations/suites/*.yml) is read strictly: a mistake names the file and the path
of its entry."""

import pytest

from expectations.suites import SuiteError, read_suite

SUITE = """\
suite: s
guards: marts/patients
scope: table
sql: SELECT 1 AS x, 2 AS y
expectations:
  - {expect: ExpectColumnValuesToNotBeNull, column: x, severity: warn, why: a reason}
  - {expect: ExpectColumnValuesToBeBetween, column: y, max_value: {study_parameter: ld_to_infusion_max_days},
     severity: blocking, blocks: [y], when: {x: present}, why: another reason}
"""


def _read(tmp_path, text):
    path = tmp_path / "s.yml"
    path.write_text(text, encoding="utf-8")
    return read_suite(path)


def test_the_gx_arguments_are_the_other_keys_with_study_parameters_resolved(tmp_path):
    first, second = _read(tmp_path, SUITE).expectations
    assert first.type == "ExpectColumnValuesToNotBeNull" and first.kwargs == {"column": "x"}
    assert second.kwargs == {"column": "y", "max_value": 28.0} and second.blocks == ("y",)
    assert second.when == {"x": "present"} and second.column == "y"


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("scope: table", "scope: table\ncolour: red", r"^s\.yml: colour: unknown key$"),
        ("scope: table", "scope: mart", r"^s\.yml: scope: Input should be 'batch' or 'table' \(got 'mart'\)$"),
        ("severity: warn", "severity: error", r"^s\.yml: expectations\[0\]\.severity: .* \(got 'error'\)$"),
        ("blocking, blocks", "warn, blocks", r"^s\.yml: expectations\[1\]: `blocks` lists"),
        ("{x: present}", "{x: present, y: 1}", r"^s\.yml: expectations\[1\]\.when: Dictionary should have at most 1"),
        ("ld_to_infusion_max_days", "no_such_parameter", r"expectations\[1\]: an argument names no row of the study"),
        ("expect: ExpectColumnValuesToNotBeNull, ", "", r"^s\.yml: expectations\[0\]\.expect: missing$"),
    ],
)
def test_a_mistake_names_the_file_and_the_path_of_its_entry(tmp_path, old, new, message):
    assert old in SUITE
    with pytest.raises(SuiteError, match=message):
        _read(tmp_path, SUITE.replace(old, new))

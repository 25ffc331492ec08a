"""What a dbt test says when it fails, on the data-quality pages (cartwh.quality.dbt_tests._meaning):
its YAML description, else a singular test's leading comment, else the generic test and what it checks."""

from cartwh.quality.dbt_tests import _meaning


def test_a_description_comes_first_then_a_singular_test_s_comment():
    assert _meaning({"description": "The dates  run\nbackwards."}) == "The dates run backwards."
    assert (
        _meaning({"raw_code": "-- Every percentage lies\n-- in [0, 100].\nselect 1"})
        == "Every percentage lies in [0, 100]."
    )


def test_a_generic_test_names_its_column_or_its_columns():
    column = {"test_metadata": {"name": "not_null", "kwargs": {"column_name": "patient_key"}}}
    key = {
        "test_metadata": {
            "name": "unique_combination_of_columns",
            "kwargs": {"combination_of_columns": ["patient_key", "paramcd"]},
        }
    }
    assert _meaning(column) == "not_null on patient_key"
    assert _meaning(key) == "unique_combination_of_columns on patient_key, paramcd"
    assert _meaning({"test_metadata": {"name": "accepted_values", "kwargs": {}}}) == "accepted_values"

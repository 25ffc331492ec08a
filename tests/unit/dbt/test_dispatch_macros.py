"""Every adapter.dispatch macro of the dbt project (and its local generic tests), rendered by dbt for an engine and run there on
rows written here (a dbt source as a table of its schema, the rest as tables of their own), against
results worked out by hand: Spark here, in `make test-spark` (marked spark); DuckDB in
tests/e2e/test_dispatch_macros.py. Whatever engine renders it, a macro must give the same answer."""

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.paths import DBT_PROJECT

PROJECT = DBT_PROJECT

# name -> (columns, rows): the inputs, typed the same on both engines
TABLES = {
    "intervals": (
        "id int, start_date date, end_date date",
        [
            (1, date(2024, 1, 1), date(2024, 1, 10)),  # 9 days
            (2, date(2024, 3, 1), date(2024, 2, 28)),  # backwards over 29 February: -2
            (3, date(2023, 12, 31), date(2024, 1, 1)),  # over the new year: 1
            (4, None, date(2024, 1, 1)),  # no start: NULL
            (5, date(2024, 6, 1), date(2024, 6, 1)),  # same day: 0
        ],
    ),
    "points": (
        "id int, day int, value double",
        [
            # (0, 10) (7, 30) (14, 20): 7 x (10 + 30) / 2 + 7 x (30 + 20) / 2 = 140 + 175 = 315
            (1, 0, 10.0),
            (1, 7, 30.0),
            (1, 14, 20.0),
            # the same points given out of order, and a day without a value skipped: 315
            (2, 14, 20.0),
            (2, 3, None),
            (2, 0, 10.0),
            (2, 7, 30.0),
            # two values on day 5, taken in value order: (5, 2) (5, 4) (6, 4): 0 + 1 x (4 + 4) / 2 = 4
            (3, 6, 4.0),
            (3, 5, 4.0),
            (3, 5, 2.0),
            # one point: no area (NULL); only missing values: NULL
            (4, 1, 5.0),
            (5, 1, None),
            (5, 2, None),
        ],
    ),
    "raw.redcap_choices": (
        "field_name string, code string, label string",
        [("sex", "1", "Male"), ("sex", "2", "Female"), ("vital_status", "1", "Alive")],
    ),
    "coded": (
        "id int, sex string",
        [(1, "1"), (2, "2"), (3, None), (4, "3")],  # no value, and a code the dictionary lacks: NULL
    ),
    "labels": (
        "id int, label string, missing boolean",
        [
            (1, "exported", True),
            (1, "beads", False),
            (1, "exported", True),
            (1, "crp", True),
            (2, None, True),  # no value: NULL
        ],
    ),
    "keyed": (
        "k1 string, k2 string",
        [
            ("a#b", "c"),  # a different key from the next: the concatenation 'a#b#c' is the same for both
            ("a", "b#c"),
            ("x", None),  # a key with a NULL part, twice: repeated (a concatenation is NULL and escapes `unique`)
            ("x", None),
            ("y", "z"),  # repeated three times
            ("y", "z"),
            ("y", "z"),
        ],
    ),
}

# macro case -> (SQL over TABLES with the macro, expected result by id, expected type)
CASES = {
    "days_between": (
        "select id, {{ days_between('start_date', 'end_date') }} as result from intervals",
        {1: 9, 2: -2, 3: 1, 4: None, 5: 0},
        "bigint",
    ),
    "study_day": (
        "select id, {{ study_day('end_date', 'start_date') }} as result from intervals",
        {1: 9, 2: -2, 3: 1, 4: None, 5: 0},
        "bigint",
    ),
    "trapezoid_auc": (
        "select id, {{ trapezoid_auc('day', 'value') }} as result from points group by id",
        {1: 315.0, 2: 315.0, 3: 4.0, 4: None, 5: None},
        "double",
    ),
    "decode_choice": (
        "select id, {{ decode_choice('sex') }} as result from coded",
        {1: "Male", 2: "Female", 3: None, 4: None},
        "string",
    ),
    "sorted_string_agg distinct": (
        "select id, {{ sorted_string_agg('label', '+', distinct=true) }} as result from labels group by id",
        {1: "beads+crp+exported", 2: None},
        "string",
    ),
    "sorted_string_agg where": (
        "select id, {{ sorted_string_agg('label', ', ', where='missing') }} as result from labels group by id",
        {1: "crp, exported, exported", 2: None},
        "string",
    ),
    # the local generic test (dbt_project/tests/generic/): the repeated keys and how many rows each
    "unique_combination_of_columns": (
        "select k1 as id, n_rows as result from ("
        "{{ test_unique_combination_of_columns('keyed', ['k1', 'k2']) }}) as failing",
        {"x": 2, "y": 3},
        "bigint",
    ),
}
SEPARATOR = "\n/* next case */\n"
TYPE_NAMES = {"BIGINT": "bigint", "DOUBLE": "double", "VARCHAR": "string"}  # DuckDB's typeof -> Spark's


def compiled_cases(engine: str, out: Path) -> dict[str, str]:
    """The cases' SQL as dbt renders it for `engine` (one `dbt compile --inline` for all)."""
    template = SEPARATOR.join(sql for sql, _, _ in CASES.values())
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "compile", "--inline", template, "--output", "json", "--quiet"]
        + ["--no-populate-cache", "--profiles-dir", ".", "--target-path", str(out / "target")]
        + ["--log-path", str(out / "logs")],
        cwd=PROJECT,
        env={**os.environ, "CARTWH_ENGINE": engine, "CARTWH_WAREHOUSE": ":memory:", "CARTWH_SPARK_DIR": str(out)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    compiled = json.loads(result.stdout[result.stdout.index("{") :])["compiled"]
    return dict(zip(CASES, compiled.split(SEPARATOR), strict=True))


def check(cases: dict[str, str], run) -> None:
    """`run(sql)` -> rows (id, result, type of result) on the engine."""
    for case, sql in cases.items():
        _, expected, expected_type = CASES[case]
        rows = run(f"select id, result, typeof(result) from ({sql}) as c")
        assert {i: r for i, r, _ in rows} == expected, case
        assert {TYPE_NAMES.get(t, t) for _, _, t in rows} == {expected_type}, case


@pytest.mark.spark
def test_dispatch_macros_on_spark(tmp_path, spark):
    spark.sql("create database if not exists raw")
    for name, (columns, rows) in TABLES.items():
        frame = spark.createDataFrame(rows, schema=columns)
        if "." in name:
            frame.write.mode("overwrite").saveAsTable(name)
        else:
            frame.createOrReplaceTempView(name)
    check(compiled_cases("spark", tmp_path), lambda sql: [tuple(r) for r in spark.sql(sql).collect()])

"""A query of the shape dbt's unit-test fixtures take runs on the Spark a build configures
(cartwh/spark/session.py). Marked spark: `make test-spark`, which installs pyspark and Java. The
demo's night on Spark: tests/e2e/test_spark_marts.py."""

import pytest

from cartwh.spark.session import SparkQuery

pytestmark = pytest.mark.spark


def test_rows_of_literals_unioned_run_on_the_builds_spark(tmp_path):
    """Rows written as unions of `select <literals>` (the shape of dbt's unit-test fixtures), one of
    them filtered by a subquery, aggregated and joined back: with Spark 4.3's union code generation
    on, its task fails on the executor with a ClassCastException (profiles.yml says why); the build's
    own configuration runs it."""
    sql = """
        with files as (select 1 as load_id union all select 2 union all select 3),
        samples as (select 'T2' as tube_key, 'P1' as patient_key, 1 as load_id
                    union all select 'T2', 'P2', 2),
        tubes as (select 'B' as tube_key, false as conflict union all select 'T2', true),
        current as (
            select s.* from (select * from samples where load_id in (select load_id from files)) as s
            inner join tubes as t on s.tube_key = t.tube_key and t.conflict
        ),
        patients as (select tube_key, count(distinct patient_key) as n from current group by tube_key)
        select c.patient_key, p.n from current as c inner join patients as p on c.tube_key = p.tube_key
    """
    query = SparkQuery(tmp_path)
    try:
        rows = query(sql)
    finally:
        query.close()
    assert sorted(rows.itertuples(index=False, name=None)) == [("P1", 2), ("P2", 2)]

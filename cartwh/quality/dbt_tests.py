"""The dbt tests that warned or failed in a run, kept in the warehouse for the data-quality pages
(the analysts' page lists them; the data manager's report turns their failing rows into root causes
and knock-ons, cartwh.quality.root_causes).

Read from dbt's own run_results.json, right after `dbt build` (assets/transformations.py), rather
than from the asset check evaluations Dagster records: those are one per model
(cartwh/dbt/test_summaries.py) and carry no failing rows. run_results.json names every test with its status and failure count,
and the test's compiled SQL, run once more where dbt has just built (the warehouse, or Spark's
tables on that engine; nothing has written to them in between: the run holds the writer lock),
gives its failing rows. Of those only the
pseudonymous keys are kept (patient_key; tube_key, with its patient from raw.cytometry_samples),
never a value: a failing row can hold anything a model holds.

The tables hold the latest build's tests only (each build replaces them): like the models, they
are what the last `dbt build` left, also on a night that was blocked before dbt ran.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import duckdb
import pandas as pd

from cartwh.warehouse.connection import insert_frame
from cartwh.warehouse.schema import has_table, replace

RESULTS_TABLE = "quality.dbt_test_results"
ROWS_TABLE = "quality.dbt_test_rows"
Query = Callable[[str], pd.DataFrame]  # SQL -> its result, on the engine the build ran on
ROWS_KEPT = 1000  # failing rows kept per test (their count is always complete, from dbt)
KEY_COLUMNS = ("patient_key", "tube_key")
NOT_PASSED = {"warn": "warn", "fail": "blocking", "error": "blocking"}  # dbt status -> cartwh severity


def _meaning(node: dict) -> str:
    """What the test says when it fails: its YAML description, else the leading comment of a
    singular test's SQL, else the generic test and column it checks."""
    if node.get("description"):
        return _readable(node["description"])
    lines = []
    for line in (node.get("raw_code") or "").splitlines():
        if not line.startswith("--"):
            break
        lines.append(line.removeprefix("--").strip())
    if lines:
        return _readable(" ".join(lines))
    metadata = node.get("test_metadata") or {}
    kwargs = metadata.get("kwargs") or {}
    column = kwargs.get("column_name") or ", ".join(kwargs.get("combination_of_columns") or [])
    return f"{metadata.get('name', 'test')}{' on ' + column if column else ''}"


def _action(node: dict) -> str | None:
    """What the data manager does about the test's failing rows (`meta.action` in its YAML:
    dbt_project/tests/_singular_tests.yml), if it says."""
    return ((node.get("config") or {}).get("meta") or node.get("meta") or {}).get("action")


def _readable(text: str) -> str:
    """One line, with the seed a threshold comes from instead of the macro that reads it."""
    return re.sub(r"study_parameter\('(\w+)'\)", r"\1 (study_parameters seed)", " ".join(text.split()))


def _models(node: dict) -> str:
    parents = [
        uid.split(".")[-1]
        for uid in node.get("depends_on", {}).get("nodes", [])
        if uid.startswith(("model.", "seed.", "snapshot."))
    ]
    return ", ".join(sorted(set(parents)))


def _failing_keys(con: duckdb.DuckDBPyConnection, sql: str, query: Query) -> pd.DataFrame:
    """The patient and tube keys of the test's failing rows (ROWS_KEPT at most)."""
    test = re.sub(r";\s*$", "", sql.strip())
    columns = set(query(f"SELECT * FROM ({test}) AS failing LIMIT 0").columns)
    kept = [c for c in KEY_COLUMNS if c in columns]
    if not kept:
        return pd.DataFrame(columns=list(KEY_COLUMNS))
    frame = query(f"SELECT DISTINCT {', '.join(kept)} FROM ({test}) AS failing LIMIT {ROWS_KEPT}")
    for column in KEY_COLUMNS:
        if column not in frame:
            frame[column] = None
    if "patient_key" not in kept and frame["tube_key"].notna().any():
        tubes = dict(con.execute("SELECT DISTINCT tube_key, patient_key FROM raw.cytometry_samples").fetchall())
        frame["patient_key"] = frame["tube_key"].map(tubes)
    return frame[list(KEY_COLUMNS)].astype(object)


def record_dbt_tests(
    con: duckdb.DuckDBPyConnection, run_id: str, run_results: dict, manifest: dict, query: Query | None = None
) -> int:
    """Keep the build's tests that did not pass, in place of the previous build's; their number.
    `query` runs a test's SQL where the build ran (default: the warehouse; a Spark build's tests
    run on Spark, cartwh.spark.session.SparkQuery)."""
    query = query or (lambda sql: con.execute(sql).df())
    replace(con, RESULTS_TABLE)  # both declared in cartwh.warehouse.schema, rewritten whole
    replace(con, ROWS_TABLE)
    kept = 0
    for result in run_results.get("results", []):
        uid, status = result["unique_id"], result["status"]
        if not uid.startswith("test.") or status not in NOT_PASSED:
            continue
        node = manifest.get("nodes", {}).get(uid, {})
        test = node.get("name", uid.split(".")[-1])
        con.execute(
            f"INSERT INTO {RESULTS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                test,
                _models(node),
                status,
                NOT_PASSED[status],
                result.get("failures"),
                _meaning(node),
                result.get("message"),
                _action(node),
            ],
        )
        kept += 1
        if status != "error" and result.get("compiled_code"):
            try:
                keys = _failing_keys(con, result["compiled_code"], query)
            except Exception:  # its SQL does not run outside dbt: the test is listed, its rows are not
                continue
            insert_frame(con, ROWS_TABLE, keys.assign(run_id=run_id, test=test))
    return kept


def _kept(con: duckdb.DuckDBPyConnection) -> bool:
    return has_table(con, ROWS_TABLE)


def dbt_test_results(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The latest build's tests that did not pass: test, models, status, severity, failures, meaning,
    action (what the data manager does, when the test says)."""
    if not _kept(con):
        return pd.DataFrame(columns=["test", "models", "status", "severity", "failures", "meaning", "action"])
    return con.execute(
        f"SELECT test, models, status, severity, failures, meaning, {_action_column(con)} AS action "
        f"FROM {RESULTS_TABLE} ORDER BY severity, test"
    ).df()


def _action_column(con: duckdb.DuckDBPyConnection, alias: str = "") -> str:
    """`action`, or NULL in a table a build before the column existed left (the next build replaces it)."""
    schema, table = RESULTS_TABLE.split(".")
    found = con.execute(
        "SELECT 1 FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? AND column_name = 'action'",
        [schema, table],
    ).fetchall()
    return f"{alias}action" if found else "NULL::VARCHAR"


def dbt_test_rows(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The failing rows' keys of the latest build's tests, with the test's severity and meaning, and
    for a tube what the lab knows it by: its panel, collection date and time point."""
    if not _kept(con):
        return []
    frame = (
        con.execute(f"""SELECT r.test, t.models, t.severity, t.meaning, {_action_column(con, "t.")} AS action,
               r.patient_key, r.tube_key,
               s.panel, s.collection_date, s.timepoint
        FROM {ROWS_TABLE} AS r JOIN {RESULTS_TABLE} AS t USING (run_id, test)
        LEFT JOIN (SELECT tube_key, any_value(panel) AS panel, any_value(collection_date) AS collection_date,
                          any_value(timepoint) AS timepoint FROM raw.cytometry_samples GROUP BY 1) AS s USING (tube_key)
        ORDER BY r.test, r.patient_key, s.collection_date, r.tube_key""")
        .df()
        .astype(object)
    )
    return frame.where(frame.notna(), None).to_dict("records")

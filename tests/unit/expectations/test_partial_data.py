"""Partial data runs what it can (issue 15), before anything lands: the raw layer exists, empty, with
its schema; and only a blocking expectation may say what it blocks (`blocks:` in a suite file). What the night then runs and
renders: tests/e2e/test_partial_data.py."""

import pytest

from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.ingest.load import SOURCES, ingest_source
from cartwh.ingest.warehouse import connect
from expectations.suites import SuiteError, read_suite


def test_raw_tables_exist_empty_with_their_schema_before_anything_lands(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    try:
        for source in SOURCES:
            report = ingest_source(con, tmp_path / "landing", source, tmp_path / "archive")
            assert report.files_loaded == [] and report.failures == []
        tables = {
            f"raw.{t}"
            for (t,) in con.execute(  # tables and views (the statistics' long view)
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
            ).fetchall()
        }
        forms = [f"raw.redcap_{form}" for form in project_dictionary().forms]
        assert set(forms) | {"raw.cytometry_samples", "raw.cytometry_population_stats"} <= tables
        columns = [
            c
            for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' "
                "AND table_name = 'cytometry_population_stats' ORDER BY ordinal_position"
            ).fetchall()
        ]
        assert columns == [
            "tube_key",
            "gate_path",
            "statistic",
            "value",
            "_load_id",
            "_source_row",
            "significant_figures",
        ]
        laboratory = {
            c
            for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' "
                "AND table_name = 'redcap_laboratory'"
            ).fetchall()
        }
        assert {"patient_key", "site", "redcap_repeat_instance", "crp_value", "crp_unit", "_load_id"} <= laboratory
        assert all(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] == 0 for t in forms)
    finally:
        con.close()


def test_blocks_only_on_blocking_expectations(tmp_path):
    suite = tmp_path / "s.yml"
    suite.write_text(
        "suite: s\nguards: marts/patients\nscope: table\nsql: SELECT 1 AS x\nexpectations:\n"
        "  - {expect: ExpectColumnValuesToNotBeNull, column: x, severity: warn, blocks: [x],\n"
        "     why: 'a reason here'}\n"
    )
    with pytest.raises(SuiteError, match="blocks"):
        read_suite(suite)

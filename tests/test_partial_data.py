"""Partial data runs what it can (issue 15): the raw layer exists before anything lands, a
blocking check blocks only what depends on it, and the report renders whatever is missing."""

from cartwh.contract.redcap import project_dictionary
from cartwh.ingest import SOURCES, ingest_source
from cartwh.ingest.warehouse import connect


def test_raw_tables_exist_empty_with_their_schema_before_anything_lands(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    try:
        for source in SOURCES:
            report = ingest_source(con, tmp_path / "landing", source, tmp_path / "archive")
            assert report.files_loaded == [] and report.failures == []
        tables = {f"raw.{t}" for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw'").fetchall()}
        forms = [f"raw.redcap_{form}" for form in project_dictionary().forms]
        assert set(forms) | {"raw.cytometry_samples", "raw.cytometry_population_stats"} <= tables
        columns = [c for (c,) in con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' "
                                             "AND table_name = 'cytometry_population_stats' ORDER BY ordinal_position").fetchall()]
        assert columns == ["fcs_file", "gate_path", "statistic", "value", "_load_id", "_source_row"]
        laboratory = {c for (c,) in con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' "
                                                "AND table_name = 'redcap_laboratory'").fetchall()}
        assert {"patient_key", "site", "redcap_repeat_instance", "crp_value", "crp_unit", "_load_id"} <= laboratory
        assert all(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] == 0 for t in forms)
    finally:
        con.close()

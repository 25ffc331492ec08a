"""The Dagster ingestion assets on the demo cohort, into a temporary DuckDB."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.ingestion import raw_assets
from assets.resources import LandingZone
from cartwh.ingest.warehouse import connect
from expectations.source_health import source_health


def _resources(tmp_path):
    return {
        "warehouse": DuckDBResource(database=str(tmp_path / "w.duckdb")),
        "landing_zone": LandingZone(landing=str(tmp_path / "landing"), archive=str(tmp_path / "archive")),
    }


# end to end: the raw assets twice through Dagster
def test_materialize_demo_cohort_twice_adds_nothing_the_second_time(tmp_path, generated):
    generated(tmp_path / "landing")
    first = dg.materialize(raw_assets(), resources=_resources(tmp_path))
    assert first.success
    meta = {
        ".".join(e.asset_key.path): e.step_materialization_data.materialization.metadata
        for e in first.get_asset_materialization_events()
    }
    assert meta["raw.redcap_demographics"]["rows_added"].value == 24
    assert meta["raw.redcap_demographics"]["rows_quarantined"].value == 0
    assert meta["raw.cytometry_samples"]["files_loaded"].value > 0

    second = dg.materialize(raw_assets(), resources=_resources(tmp_path))
    assert second.success
    added = [
        e.step_materialization_data.materialization.metadata.get("rows_added")
        for e in second.get_asset_materialization_events()
    ]
    assert all(a is None or a.value == 0 for a in added)
    con = connect(tmp_path / "w.duckdb", read_only=True)
    assert con.execute("SELECT count(*) FROM raw.redcap_demographics").fetchone()[0] == 24


# end to end: the raw assets through Dagster
def test_an_unparseable_file_fails_alone_named_and_every_other_file_lands(tmp_path, generated):
    """Issue 22 (defect 5): the file is kept in raw.ingest_failures with its name and why, every
    step completes (so the other sources land the same night), and source health stops the night."""
    generated(tmp_path / "landing")
    bad = tmp_path / "landing" / "redcap" / "broken_export.csv"
    bad.write_text("")
    result = dg.materialize(raw_assets(), resources=_resources(tmp_path), raise_on_error=False)
    assert result.success and not any(e.is_step_failure for e in result.all_events)
    con = connect(tmp_path / "w.duckdb", read_only=True)
    assert con.execute("SELECT count(*) FROM raw.redcap_demographics").fetchone()[0] == 24
    assert con.execute("SELECT count(*) FROM raw.landed_files WHERE file LIKE '%broken%'").fetchone()[0] == 0
    assert con.execute("SELECT file, message FROM raw.ingest_failures").fetchall() == [
        ("redcap/broken_export.csv", "redcap/broken_export.csv (row 1): empty file or empty header row")
    ]
    (finding,) = source_health(con)
    assert finding.check_name == "file_failed" and finding.message.startswith("redcap/broken_export.csv (row 1)")

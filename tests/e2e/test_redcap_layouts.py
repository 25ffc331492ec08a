"""Issue 13's "done when": the demo cohort's REDCap export written as a site's own longitudinal
project (own field names and codes, events, a repeating event for monitoring visits, checkbox
codes as letters, unit declarations, its mapping.yml) goes through the main job to the same marts
and analytics, table by table, as the canonical layout (the session's demo warehouse)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from cartwh.generate import generate_landing

# Columns that say when or in which load a row was built, not what it holds.
# What differs between two runs of the same data: load ids, times, and the code's version (a commit
# made between the session's demo run and this one)
RUN_COLUMNS = {
    "_load_id",
    "_source_row",
    "load_id",
    "loaded_at",
    "built_at",
    "run_id",
    "generated_at",
    "computed_at",
    "code_version",
}


def _longitudinal_redcap(landing: Path) -> None:
    """Replace the classic export by the same cohort in the longitudinal layout."""
    shutil.rmtree(landing / "redcap")
    other = landing.parent / "longitudinal-landing"
    generate_landing(other, redcap_layout="longitudinal")
    shutil.copytree(other / "redcap", landing / "redcap")
    shutil.rmtree(other)


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    tables = {}
    for schema, table in con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name IN "
        "('marts', 'analytics') UNION SELECT schema_name, view_name FROM duckdb_views() "
        "WHERE schema_name IN ('marts', 'analytics') ORDER BY ALL"
    ).fetchall():
        columns = [c for (c, *_) in con.execute(f'DESCRIBE "{schema}"."{table}"').fetchall() if c not in RUN_COLUMNS]
        rows = con.execute(
            f'SELECT {", ".join(chr(34) + c + chr(34) for c in columns)} FROM "{schema}"."{table}"'
        ).fetchall()
        tables[f"{schema}.{table}"] = sorted(rows, key=repr)
    return tables


def test_longitudinal_site_layout_gives_the_same_marts_and_analytics(demo_warehouse, main_job, tmp_path):
    result, _ = main_job(tmp_path, prepare=_longitudinal_redcap)
    assert result.success
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        site = con.execute("SELECT count(*) FROM raw.landed_file_projects WHERE mapped").fetchall()
        longitudinal = _tables(con)
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        canonical = _tables(con)
    assert site == [(1,)]  # the site's project, read with its mapping
    assert sorted(longitudinal) == sorted(canonical) and len(canonical) > 10
    different = [t for t in canonical if canonical[t] != longitudinal[t]]
    assert different == []
    assert sum(len(rows) for rows in canonical.values()) > 1000


def _current_canonical_rows(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    from cartwh.contract.redcap_dictionary import project_dictionary

    tables = {}
    for form in project_dictionary().forms:
        columns = [
            c
            for (c, *_) in con.execute(f"DESCRIBE raw.redcap_{form}").fetchall()
            if c not in {"_load_id", "_source_row", "redcap_event_name"}
        ]
        tables[form] = sorted(
            con.execute(
                f"SELECT {', '.join(columns)} FROM raw.redcap_{form} r JOIN raw.landed_files f ON f.load_id = r._load_id "
                "WHERE f.superseded_by IS NULL"
            ).fetchall(),
            key=repr,
        )
    return tables


# end to end: two registries generated and ingested: about 10 s
def test_a_registry_mixing_both_layouts_lands_the_same_canonical_rows(tmp_path, monkeypatch):
    from cartwh.ingest.load import ingest_source
    from cartwh.ingest.warehouse import connect

    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", "mixed-layouts-test-secret")
    landed = {}
    for layout in ("classic", "mixed"):
        root = tmp_path / layout
        generate_landing(root / "landing", patients=30, sites=2, redcap_layout=layout)
        con = connect(root / "w.duckdb")
        report = ingest_source(con, root / "landing", "redcap", root / "archive")
        assert report.failures == [] and report.rows_quarantined == 0
        landed[layout] = (
            _current_canonical_rows(con),
            con.execute("SELECT project, mapped FROM raw.landed_file_projects ORDER BY load_id").fetchall(),
        )
        con.close()
    assert landed["mixed"][0] == landed["classic"][0]
    assert sum(len(rows) for rows in landed["classic"][0].values()) > 200
    # S001 exports the shipped project, S002 its own longitudinal project with mapping.yml (main and late export)
    assert sorted(set(landed["mixed"][1])) == [("S001", False), ("S002", True)]
    assert (tmp_path / "mixed" / "landing" / "redcap" / "S002" / "mapping.yml").exists()

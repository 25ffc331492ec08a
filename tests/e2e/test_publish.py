"""Publication: the demo's night publishes the analysts' schemas (analytics, marts, ops, quality,
reference), each source's files counted as they landed, and its tables as the working warehouse
holds them."""

import duckdb


def test_the_demo_publishes_marts_statistics_reference_runs_and_quality(demo_warehouse):
    root = demo_warehouse.parent
    published = duckdb.connect(str(root / "published" / "warehouse.duckdb"), read_only=True)
    schemas = published.execute("SELECT DISTINCT schema_name FROM duckdb_tables() ORDER BY 1").fetchall()
    assert [s for (s,) in schemas] == ["analytics", "marts", "ops", "quality", "reference"]
    files = published.execute(
        "SELECT source, current_files, superseded_files, rows_quarantined FROM quality.files_per_source ORDER BY 1"
    ).fetchall()
    landed = {
        source: len(list((root / "landing").glob(pattern)))
        for source, pattern in [
            ("cytometry_fcs", "cytometry/fcs/**/*.fcs"),
            ("cytometry_manifest", "cytometry/manifests/**/*.csv"),
            ("cytometry_statistics", "cytometry/statistics/**/*.csv"),
            ("redcap", "redcap/*.csv"),
        ]
    }
    assert files == [(source, n, 0, 0) for source, n in sorted(landed.items())]
    working = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        for table in ("marts.patients", "marts.car_t_kinetics", "analytics.km_estimates", "reference.hematotox_bands"):
            query = f"SELECT * FROM {table} ORDER BY ALL"
            assert published.execute(query).fetchall() == working.execute(query).fetchall(), table
    finally:
        working.close()
        published.close()

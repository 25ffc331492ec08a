"""The demo's lab tables against its gated FCS files (int__gated_statistics_cross_check): the demo
lands one tube of each panel as an FCS file beside its table, and every statistic of those tubes
agrees to the table's written precision; a table count then changed by one event (a re-export
after a gate moved) is flagged, naming the tube, the gate and both values, while the table's
value stays the one used (cytometry_statistics_routes: the table first)."""

from __future__ import annotations

import csv

from cartwh.ingest.load import ingest_source
from cartwh.ingest.warehouse import connect
from tests.conftest import run_dbt

CHECK = "intermediate.int__gated_statistics_cross_check"


def _rows(warehouse, sql: str) -> list[tuple]:
    con = connect(warehouse, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_the_demos_gated_tubes_agree_with_its_tables(demo_warehouse):
    routes = _rows(demo_warehouse, "SELECT source, count(*) FROM raw.landed_files GROUP BY 1 ORDER BY 1")
    assert ("cytometry_fcs", 5) in routes  # one tube of each panel
    compared = _rows(
        demo_warehouse, f"SELECT count(DISTINCT tube_key), count(*), count(*) FILTER (WHERE agrees) FROM {CHECK}"
    )
    tubes, pairs, agreeing = compared[0]
    assert tubes == 5 and pairs > 5 * 10 and agreeing == pairs


def test_a_table_count_that_disagrees_with_the_gate_is_flagged(demo_copy, tmp_path):
    warehouse = demo_copy / "warehouse.duckdb"
    fcs_names = {p.name for p in (demo_copy / "landing" / "cytometry" / "fcs").rglob("*.fcs")}
    column_name = "Leukocytes/Lymphocytes | Count"
    path, rows = next(
        (path, rows)
        for path in sorted((demo_copy / "landing" / "cytometry" / "statistics").rglob("*.csv"))
        for rows in [list(csv.reader(path.read_text(encoding="utf-8").splitlines()))]
        if column_name in rows[0] and any(r[0] in fcs_names for r in rows[1:])
    )
    row = next(r for r in rows[1:] if r[0] in fcs_names)
    column = rows[0].index(column_name)
    row[column] = str(int(row[column]) + 1)  # one event more than the gate holds
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    con = connect(warehouse)
    try:
        report = ingest_source(con, demo_copy / "landing", "cytometry_statistics", demo_copy / "archive")
    finally:
        con.close()
    assert report.failures == [] and len(report.files_superseding) == 1
    done = run_dbt(
        warehouse,
        tmp_path,
        "build",
        "-s",
        "int__cytometry_values",
        "int__sample_populations",
        "int__gated_statistics_cross_check",
        "assert_cytometry_gated_statistics_agree",
    )
    assert done.returncode == 0, done.stdout[-3000:]  # a warning, not an error
    assert "WARN 1 assert_cytometry_gated_statistics_agree" in done.stdout
    flagged = _rows(warehouse, f"SELECT gate_path, statistic, table_value - gated_value FROM {CHECK} WHERE NOT agrees")
    assert flagged == [("Leukocytes/Lymphocytes", "Count", 1.0)]
    used = _rows(
        warehouse,
        f"""SELECT p.lymphocytes_events = c.table_value FROM {CHECK} c
            JOIN intermediate.int__sample_populations p USING (tube_key) WHERE NOT c.agrees""",
    )
    assert used == [(True,)]  # the table's count is the one the models use

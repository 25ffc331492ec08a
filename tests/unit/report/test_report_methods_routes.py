"""The methods paragraph on absolute counts (cartwh/report/methods.py) says which routes the cohort's
post-infusion samples used, counted from marts.car_t_kinetics."""

from __future__ import annotations

import duckdb

from cartwh.report.methods import absolute_count_paragraph, absolute_count_routes

PARAMETERS = {"absolute_count_max_relative_difference": "0.1", "absolute_count_min_difference_cells_per_ul": "0.01"}


def test_routes_are_counted_per_measure_from_the_kinetics_mart():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.car_t_kinetics (car_t_per_ul_route VARCHAR, b_cells_per_ul_route VARCHAR)")
    con.execute(
        "INSERT INTO marts.car_t_kinetics VALUES ('beads', 'beads'), ('beads', 'beads'), "
        "('exported', 'dual_platform'), ('dual_platform', NULL)"
    )
    routes = absolute_count_routes(con)
    assert routes == {
        "CAR-T/µL": {"beads": 2, "dual_platform": 1, "exported": 1},
        "B cells/µL": {"beads": 2, "dual_platform": 1, None: 1},
    }
    text = absolute_count_paragraph(routes, PARAMETERS)
    assert text.endswith(
        "Of the 4 post-infusion samples: CAR-T/µL: bead counting 2, dual platform 1, the "
        "laboratory's exported count 1; B cells/µL: bead counting 2, dual platform 1, "
        "no route (no value) 1."
    )
    assert "more than 10 % and 0.01 cells/µL away" in text


def test_a_cohort_without_cytometry_says_so():
    assert absolute_count_paragraph({"CAR-T/µL": {}, "B cells/µL": {}}, PARAMETERS).endswith(
        "Of the 0 post-infusion samples: none."
    )

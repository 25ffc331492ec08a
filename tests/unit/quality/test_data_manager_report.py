"""The data manager's report's record map (cartwh/ingest/record_map.py): a batch without CSV rows
adds nothing to it. The two data-quality reports of the faults run: tests/e2e/test_data_manager_report.py."""

from __future__ import annotations

import duckdb

from cartwh.ingest.keys import reset_row_keys
from cartwh.ingest.record_map import remember_batch
from cartwh.warehouse.record_ids import map_path


def test_a_batch_without_csv_rows_adds_nothing_to_the_record_map(tmp_path):
    """A loader that reads no CSV (a deletion report) leaves no row tables: the map is not touched."""
    con = duckdb.connect()
    reset_row_keys(con)
    remember_batch(con, [], tmp_path)
    con.close()
    assert not map_path(tmp_path).exists()

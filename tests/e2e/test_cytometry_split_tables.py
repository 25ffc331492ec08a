"""A lab's FlowJo tables as labs send them (issue 22, item 7): FlowJo users routinely export one
table editor table of event counts and another of frequencies for the same tubes, and the table
holds the run's control tubes (FMO, isotype, unstained, compensation, beads only) beside the
patients'. The session demo's statistics re-exported that way, in the table editor's own shape
(unnamed first column, trailing comma, '(%)' statistic names, Mean/SD rows, counts in E-notation),
must give the cytometry marts of the one table, row for row: the tube's values are merged across
both tables (the count of the first gate is in both, identical: used once), and the controls are
recognised by their names and kept out without blocking the night.

Before values were chosen per value, staging kept only the later table of each tube: every
count was lost, CAR-T/uL was NULL for every sample (and with one month split, one patient's peak
moved from 204.8 CAR-T/uL at day 7 to 41.7 at day 21 with every check passing)."""

from __future__ import annotations

import pandas as pd

from cartwh.contract.cytometry import FREQ_PARENT, FREQ_TOTAL, HEADER_SEPARATOR, is_summary_row
from cartwh.generate import lab_dialects
from cartwh.ingest.load import ingest_source
from cartwh.ingest.warehouse import connect
from tests.conftest import hmac_tube_key, run_dbt
from tests.e2e.test_dialect_marts import cytometry_marts

# The names labs' cytometers and FlowJo give control tubes (BD FACSDiva names its compensation
# tubes 'Compensation Controls_<dye> Stained Control' and 'Unstained Control').
CONTROLS = (
    "FMO CD62L_003.fcs",
    "Isotype IgG1-PE.fcs",
    "Compensation Controls_Unstained Control.fcs",
    "Compensation Controls_FITC Stained Control.fcs",
    "Comp_APC_007.fcs",
    "Beads only.fcs",
)
FREQUENCIES = (FREQ_PARENT, FREQ_TOTAL)
SECRET = "cartwh-test-secret-not-for-real-patients"  # tests/conftest.py's


def _with_controls(table: pd.DataFrame) -> pd.DataFrame:
    """The table with the run's control tubes among the tubes, above FlowJo's Mean and SD rows."""
    sample = table.columns[0]
    tubes = table[~table[sample].map(is_summary_row)]
    values = {c: "12.5" if c.rpartition(HEADER_SEPARATOR)[2] in FREQUENCIES else "1250" for c in table.columns[1:]}
    controls = pd.DataFrame([{sample: name, **values} for name in CONTROLS])
    return pd.concat([tubes, controls, table[table[sample].map(is_summary_row)]], ignore_index=True)


def _split(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The counts table (counts and any absolute count) and the frequencies table; the first
    gate's count is in both, as a lab keeps the parent's count beside its frequencies."""
    sample, first, *columns = table.columns
    frequencies = [c for c in columns if c.rpartition(HEADER_SEPARATOR)[2] in FREQUENCIES]
    counts = [c for c in columns if c not in frequencies]
    return table[[sample, first, *counts]], table[[sample, first, *frequencies]]


def _relanded(data, rewrite) -> tuple[object, list]:
    """Every demo statistics file rewritten by `rewrite(path, table)` (which writes the files that
    replace it), then the statistics source ingested: its report and the rewritten files."""
    files = sorted((data / "landing" / "cytometry" / "statistics").rglob("*.csv"))
    for path in files:
        rewrite(path, pd.read_csv(path, dtype=str, keep_default_na=False))
    con = connect(data / "warehouse.duckdb")
    try:
        return ingest_source(con, data / "landing", "cytometry_statistics", data / "archive"), files
    finally:
        con.close()


def _split_tables(path, table: pd.DataFrame) -> None:
    """The counts table at the one table's path (it supersedes it), the frequencies beside it:
    `_frequencies` sorts after, so each tube's frequencies land after its counts."""
    counts, frequencies = _split(table)
    path.write_bytes(lab_dialects.render(counts, "flowjo_csv"))
    path.with_name(f"{path.stem}_frequencies.csv").write_bytes(lab_dialects.render(frequencies, "flowjo_csv"))


def _rebuilt_marts(data, out) -> dict[str, list[tuple]]:
    done = run_dbt(data / "warehouse.duckdb", out, "build", "-s", "source:raw.cytometry_population_stats+")
    assert done.returncode == 0, done.stdout[-3000:]  # no blocking test failed
    return cytometry_marts(data / "warehouse.duckdb")


def test_counts_and_frequencies_in_two_tables_give_the_marts_of_one_table(demo_copy, tmp_path):
    before = cytometry_marts(demo_copy / "warehouse.duckdb")
    assert all(len(rows) > 0 for rows in before.values())
    report, files = _relanded(demo_copy, _split_tables)
    assert report.failures == [] and report.rows_quarantined == 0
    assert len(report.files_loaded) == 2 * len(files) and len(report.files_superseding) == len(files)
    assert _rebuilt_marts(demo_copy, tmp_path) == before


def test_control_tubes_in_a_table_are_kept_out_without_blocking(demo_copy, tmp_path):
    before = cytometry_marts(demo_copy / "warehouse.duckdb")
    report, files = _relanded(
        demo_copy, lambda path, table: path.write_bytes(lab_dialects.render(_with_controls(table), "flowjo_csv"))
    )
    assert report.failures == [] and report.rows_quarantined == 0
    assert _rebuilt_marts(demo_copy, tmp_path) == before
    assert report.records_skipped == sum(1 + len(CONTROLS) + 2 for _ in files)  # header, controls, Mean and SD
    keys = [hmac_tube_key(SECRET, name, path.parent.name.lower()) for path in files for name in CONTROLS]
    con = connect(demo_copy / "warehouse.duckdb", read_only=True)
    try:
        assert con.execute(
            "SELECT count(*) FROM raw.cytometry_population_stats WHERE tube_key IN ?", [keys]
        ).fetchall() == [(0,)]
    finally:
        con.close()

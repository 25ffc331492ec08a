"""A re-export that replaces good rows with quarantined ones (issue 28, item 7). A lab's table of
the same tubes, exported again with rows now malformed (a transfer that cut cells off), supersedes
the good version: the tubes of the malformed rows lose their values, and a superseded version's
values are never taken instead. That is said loudly (source health `lost_values`, naming the tubes;
it warns and the night goes on: one bad row never stops a programme), and the file's quarantined
share counts its rows, not the values they would have held. Tables in FlowJo's table-editor shape
(../shared/real-exports/README.md)."""

from __future__ import annotations

from datetime import datetime

import pytest
from markupsafe import escape

from cartwh.quality.data_manager_report import write_data_manager_report
from cartwh.quality.quality_report import write_quality_report
from cartwh.warehouse.schema import ensure_schema
from expectations.source_health import source_health, store_findings, thresholds
from tests.conftest import Warehouse, hmac_tube_key

SECRET = "superseded-values-secret"
TABLE = "cytometry/statistics/SITE7/2024-03_CART-DETECT-v2.csv"
HEADER = (
    ",Leukocytes | Count,Leukocytes/Lymphocytes | Freq. of Parent (%),"
    "Leukocytes/Lymphocytes/CD3+/CD19-CAR+ | Freq. of Parent (%),\n"
)
LIMITS = thresholds()


def _tube_row(n: int) -> str:
    return f"A{n:07d}_T1.fcs,{40000 + n},{20 + n % 10}.5,{1 + n % 7}.25,\n"


def _table(tubes: int, malformed: set[int] = frozenset()) -> str:
    """A month's FlowJo table of `tubes` tubes; the rows of `malformed` lost their last two cells."""
    rows = [_tube_row(n).rsplit(",", 3)[0] + ",\n" if n in malformed else _tube_row(n) for n in range(1, tubes + 1)]
    return HEADER + "".join(rows) + "Mean,4.1E+04,25.0,4.0,\nSD,1.2E+01,2.9,2.0,\n"


class StatisticsWarehouse(Warehouse):
    source = "cytometry_statistics"

    def land(self, name: str, text: str):
        path = self.landing / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return self.ingest()


@pytest.fixture
def wh(open_warehouse):
    warehouse = open_warehouse(StatisticsWarehouse, SECRET)
    warehouse.ingest("cytometry_manifest")  # as every night: the manifests' table too (none landed here)
    return warehouse


def tube(n: int) -> str:
    return hmac_tube_key(SECRET, f"A{n:07d}_T1.fcs", "site7")


def test_the_quarantined_share_counts_rows_not_the_values_they_held(wh):
    wh.land(TABLE, _table(40))
    report = wh.land(TABLE, _table(40, malformed=set(range(1, 22))))  # 21 of 40 rows cut short
    assert (report.rows_landed, report.rows_quarantined) == (19, 21)
    findings = {f.check_name: f for f in source_health(wh.con, LIMITS)}
    share = findings["quarantined_share"]  # before: 21 of 21 + 19 x 3 values, 27 %: no finding
    assert share.blocking and share.subject == TABLE
    assert f"{TABLE}: 21 of its 40 data rows quarantined (52 %, limit 50 %)" in share.message


def test_a_re_export_that_lost_tubes_says_so_naming_them_without_blocking(wh):
    wh.land(TABLE, _table(12))
    report = wh.land(TABLE, _table(12, malformed={3, 8}))
    assert report.files_superseding == [TABLE] and report.rows_quarantined == 2
    (finding,) = source_health(wh.con, LIMITS)  # 2 of 12 rows: under the quarantined share
    assert (finding.check_name, finding.subject, finding.observed, finding.blocking) == ("lost_values", TABLE, 2, False)
    assert f"{TABLE}: its current version quarantined 2 row(s) and no longer holds 2 tube(s)" in finding.message
    assert f"(tube keys {', '.join(sorted([tube(3), tube(8)]))})" in finding.message
    assert "rows do not split into the header's columns" in finding.message  # the likely cause
    held = {k for (k,) in wh.rows("SELECT DISTINCT tube_key FROM raw.cytometry_population_stats WHERE _load_id = 2")}
    assert held == {tube(n) for n in range(1, 13)} - {tube(3), tube(8)}


def test_tubes_another_current_table_still_holds_lost_nothing(wh):
    wh.land(TABLE, _table(12))
    wh.land(TABLE.replace(".csv", "_resent.csv"), HEADER + _tube_row(3))  # the lab sent tube 3 again, apart
    wh.land(TABLE, _table(12, malformed={3}))
    assert source_health(wh.con, LIMITS) == []


def test_a_corrected_re_export_clears_it(wh):
    wh.land(TABLE, _table(12))
    wh.land(TABLE, _table(12, malformed={3}))
    assert [f.check_name for f in source_health(wh.con, LIMITS)] == ["lost_values"]
    wh.land(TABLE, _table(12) + "\n")  # corrected: new content, every tube again
    assert source_health(wh.con, LIMITS) == []


def test_both_pages_lead_with_the_lost_values_and_still_trust_the_rest(wh, tmp_path):
    wh.land(TABLE, _table(12))
    wh.land(TABLE, _table(12, malformed={3}))
    ensure_schema(wh.con)  # the night's checks ran and passed
    wh.con.execute(
        "INSERT INTO quality.expectation_results (run_id, checked_at, suite, guards, scope, rows_validated, "
        "expectation, column_name, severity, why, success) VALUES ('night', ?, 'raw_cytometry_populations', "
        "'raw/cytometry_population_stats', 'batch', 11, 'ExpectColumnValuesToBeBetween', 'negative_counts', 'warn', "
        "'an event count cannot be negative', true)",
        [datetime.now()],
    )
    (finding,) = source_health(wh.con, LIMITS)
    store_findings(wh.con, [finding], "night")
    page = write_quality_report(wh.con, tmp_path / "reports", tmp_path / "quality").read_text(encoding="utf-8")
    assert page.index("Values lost since an earlier version of an export") < page.index("Checks of the latest run")
    assert escape(finding.message) in page  # as the page writes it
    assert "The marts can be trusted; 1 warning(s)" in page and "Broken sources" not in page
    restricted = write_data_manager_report(wh.con, tmp_path / "data_manager", wh.archive).read_text(encoding="utf-8")
    assert "Values lost since an earlier version of an export" in restricted and escape(finding.message) in restricted

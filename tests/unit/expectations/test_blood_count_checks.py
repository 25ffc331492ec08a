"""The raw_laboratory suite's WBC and ALC expectations: a count in cells/uL entered under the
x10^9/L code (1000 times too high, and so every dual-platform count of its day) is flagged."""

from __future__ import annotations

from cartwh.contract.redcap_dictionary import project_dictionary
from cartwh.ingest.dictionary_tables import publish_dictionary
from cartwh.ingest.load import ingest_source
from cartwh.ingest.warehouse import connect
from expectations.results import check_suite
from expectations.suites import all_suites


def test_a_blood_count_in_the_wrong_unit_is_flagged(tmp_path, generated):
    generated(tmp_path / "landing")
    con = connect(tmp_path / "w.duckdb")
    publish_dictionary(con, project_dictionary())
    ingest_source(con, tmp_path / "landing", "redcap", tmp_path / "archive")
    first = con.execute(
        "SELECT patient_key, redcap_repeat_instance FROM raw.redcap_laboratory "
        "WHERE wbc_unit = '1' AND alc_unit = '1' ORDER BY ALL LIMIT 1"
    ).fetchone()
    con.execute(
        "UPDATE raw.redcap_laboratory SET wbc_value = 4200, alc_value = 1300 "
        "WHERE patient_key = ? AND redcap_repeat_instance = ?",
        list(first),
    )  # cells/uL under x10^9/L
    suite = next(s for s in all_suites() if s.name == "raw_laboratory")
    outcome = check_suite(con, suite, tmp_path / "quality", run_id="unit-error")
    con.close()
    failed = {o.expectation.column: o for o in outcome.failed}
    assert set(failed) == {"wbc_value", "alc_value"} and not outcome.blocking_failed
    assert "cells/uL labelled x10^9/L" in failed["wbc_value"].expectation.why

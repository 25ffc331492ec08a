"""Sources stand alone (issue 22, defect 5): a REDCap file that cannot be read fails itself and is
reported, while the lab's manifests and statistics land the same night, their tubes keyed to
patients without waiting for it; and the run's summary counts every row landed, a site's own
raw.redcap_site_* tables included."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from assets.ingestion import raw_assets
from assets.resources import LandingZone
from cartwh.ingest.warehouse import connect
from expectations.source_health import source_health
from orchestration.run_summary import rows_added
from tests.conftest import hmac_pseudonym
from tests.unit.ingest.test_redcap_projects import REAL, expected_counts

SECRET = "sources-stand-alone-secret"


def _materialize(tmp_path):
    resources = {
        "warehouse": DuckDBResource(database=str(tmp_path / "w.duckdb")),
        "landing_zone": LandingZone(landing=str(tmp_path / "landing"), archive=str(tmp_path / "archive")),
    }
    return dg.materialize(raw_assets(), resources=resources, raise_on_error=False)


# end to end: the raw assets through Dagster
def test_a_failed_redcap_file_beside_cytometry_that_still_lands(tmp_path, generated, monkeypatch):
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", SECRET)
    summary = generated(tmp_path / "landing")
    (export,) = (tmp_path / "landing" / "redcap").glob("*.csv")
    export.write_bytes(b"record_id,sex\n1,1\n\xff\xfe not UTF-8\n")  # the site's export, damaged in transfer
    result = _materialize(tmp_path)
    assert result.success  # every step ran: nothing was skipped for the REDCap file
    con = connect(tmp_path / "w.duckdb", read_only=True)
    assert con.execute("SELECT count(*) FROM raw.redcap_demographics").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM raw.cytometry_samples").fetchone()[0] == summary.samples
    assert con.execute("SELECT count(*) FROM raw.cytometry_population_stats").fetchone()[0] > summary.samples
    # tubes keyed as the contract keys them, by site and record id, without the REDCap file
    keys = {k for (k,) in con.execute("SELECT DISTINCT patient_key FROM raw.cytometry_samples").fetchall()}
    assert hmac_pseudonym(SECRET, "1", "huvr") in keys and len(keys) == 24
    (failure,) = con.execute("SELECT source, file, message FROM raw.ingest_failures").fetchall()
    assert failure[:2] == ("redcap", f"redcap/{export.name}") and "not UTF-8" in failure[2]
    findings = [f for f in source_health(con) if f.check_name == "file_failed"]
    assert [f.subject for f in findings] == [f"redcap/{export.name}"]


# end to end: the raw assets through Dagster
@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real-exports is not beside the clone")
def test_the_summary_counts_a_sites_own_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", SECRET)
    monkeypatch.setenv("CARTWH_SITE", "site_1")
    site = tmp_path / "landing" / "redcap" / "longitudinal"
    site.mkdir(parents=True)
    for name in ("data.csv", "dictionary.csv", "event.csv", "arm.csv", "project.xml"):
        shutil.copy(REAL / "longitudinal" / name, site / name)
    added = rows_added(_materialize(tmp_path))
    own = {t.removeprefix("raw.redcap_site_longitudinal__"): n for t, n in added.items() if "redcap_site_" in t}
    expected: dict[str, int] = {}
    for (form, _event, _instance), n in expected_counts("longitudinal").items():
        expected[form] = expected.get(form, 0) + n
    assert own == expected and sum(added.values()) == sum(expected.values())

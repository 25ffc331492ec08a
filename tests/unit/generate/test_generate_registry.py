"""The registry generator: of the paper's shape, and clean unless asked for faults. Deterministic:
tests/e2e/test_generate_registry.py."""

import duckdb
import numpy as np
import pandas as pd
import pytest

from cartwh.generate import generate_landing
from cartwh.generate.registry import registry_design
from cartwh.ingest.load import SOURCES, ingest_source
from cartwh.ingest.warehouse import connect


@pytest.fixture(scope="module")
def registry(session_builds):
    """A 250-patient, 2-site registry generated and ingested once per session."""

    def build(root):
        summary = generate_landing(root / "landing", patients=250, sites=2, seed=11)
        with connect(root / "w.duckdb") as con:
            for source in SOURCES:
                ingest_source(con, root / "landing", source, root / "archive")
        return summary

    root, summary = session_builds.build("registry-250", build)
    con = duckdb.connect(str(root / "w.duckdb"), read_only=True)
    yield root, summary, con
    con.close()


def test_registry_sites_number_their_records_from_one(registry):
    root, _, _ = registry
    for site in ("S001", "S002"):
        export = min((root / "landing" / "redcap" / site).glob("*.csv"))
        ids = pd.read_csv(export, dtype=str)["record_id"].unique()
        assert ids[0] == "1" and sorted(map(int, ids)) == list(range(1, len(ids) + 1))


def test_clean_registry_ingests_without_quarantine(registry):
    """Record 1 of S001 and record 1 of S002 are two patients: 250 keys for 250 patients."""
    _, summary, con = registry
    assert summary.patients == 250 and summary.sites == 2
    assert con.execute("SELECT count(*) FROM raw.quarantine").fetchall()[0][0] == 0
    assert con.execute("SELECT count(DISTINCT patient_key) FROM raw.redcap_demographics").fetchall()[0][0] == 250


def test_registry_has_late_exports_superseding_base_rows(registry):
    """More than 100 records per site: some follow-up reaches the EDC in a later export."""
    root, _, con = registry
    exports = sorted(p.relative_to(root / "landing").as_posix() for p in (root / "landing" / "redcap").rglob("*.csv"))
    assert len(exports) == 4  # a main and a late export per site, each site's in its own project folder
    assert [e.rsplit("_", 1)[0] for e in exports] == ["redcap/S001/cart_monitoring_s001"] * 2 + [
        "redcap/S002/cart_monitoring_s002"
    ] * 2
    versions = con.execute(
        "SELECT max(n) FROM (SELECT patient_key, count(*) AS n FROM raw.redcap_follow_up_status GROUP BY 1)"
    ).fetchall()[0][0]
    assert versions == 2


def test_registry_uses_both_panel_versions_and_every_specimen(registry):
    _, _, con = registry
    panels = {r[0] for r in con.execute("SELECT DISTINCT panel FROM raw.cytometry_samples").fetchall()}
    assert {"CART-DETECT-v1", "CART-DETECT-v2", "CART-MEMORY-v1", "CART-MEMORY-v2", "LEUKAPHERESIS-v1"} <= panels
    gates = {r[0] for r in con.execute("SELECT DISTINCT gate_path FROM raw.cytometry_population_stats").fetchall()}
    assert "Leukocytes/Lymphocytes/CD3+/CAR+" in gates and "Leukocytes/Lymphocytes/CD3+/CD19-CAR+" in gates


def test_registry_design_keeps_the_papers_direction():
    d = registry_design(20_000, 10, np.random.default_rng(3))
    by_group = d.groupby("group")
    assert by_group.peak.median()["inotuzumab"] < by_group.peak.median()["chemotherapy"] / 2
    cleared = (d.pre > 5) & (d.post <= 5)
    assert cleared[d.group == "inotuzumab"].mean() > cleared[d.group == "chemotherapy"].mean()
    high_post = d.post > 5
    assert d.rel_m[high_post].notna().mean() > d.rel_m[~high_post].notna().mean()
    assert set(d.site.unique()) == {f"S{i:03d}" for i in range(1, 11)}
    assert d.record_id.is_unique

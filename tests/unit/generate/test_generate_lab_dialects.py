"""The generator's lab dialects (cartwh/generate/lab_dialects.py) read back to the same raw values:
the demo's statistics written in each dialect and ingested give exactly the canonical export's
(tube, gate path, statistic, value) rows. No dialect rounds (E-notation keeps every digit of a
count; decimal commas and grouped thousands are the same digits), so the equality is exact, and
what dbt derives from these rows (the expansion, kinetics and BCA marts) cannot depend on the
dialect; tests/e2e/test_dialect_marts.py builds the marts from one dialect to show it end to end."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from cartwh.generate import generate_landing, lab_dialects
from cartwh.ingest.load import ingest_source
from cartwh.ingest.warehouse import connect

VALUES = "SELECT tube_key, gate_path, statistic, value FROM raw.cytometry_population_stats ORDER BY ALL"
STATISTICS = "cytometry/statistics"


def _ingested(landing, archive):
    con = connect(":memory:")
    try:
        report = ingest_source(con, landing, "cytometry_statistics", archive)
        return report, con.execute(VALUES).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def canonical(session_builds, generated):
    """The demo's exports as generated, and what their statistics ingest to (once per session)."""

    def build(root):
        generated(root / "landing")
        return _ingested(root / "landing", root / "archive")

    root, ingested = session_builds.build("canonical-statistics", build)
    return root / "landing", *ingested


def _rewritten(canonical_landing, target, dialect: str) -> None:
    """The demo's statistics tables, each written in `dialect` as generate_landing writes it. The
    canonical file is read back as text (every cell the string generate_landing wrote), so the
    transform sees the same digits it sees there."""
    for path in sorted((canonical_landing / STATISTICS).rglob("*.csv")):
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        out = (target / path.relative_to(canonical_landing)).with_suffix(lab_dialects.suffix(dialect))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(lab_dialects.render(table, dialect))


@pytest.mark.parametrize("dialect", [d for d in lab_dialects.DIALECTS if d != "canonical"])
def test_each_dialect_reads_back_to_the_canonical_values(canonical, tmp_path, dialect):
    landing, expected_report, expected = canonical
    _rewritten(landing, tmp_path / "landing", dialect)
    report, values = _ingested(tmp_path / "landing", tmp_path / "archive")
    assert report.failures == [] and report.rows_quarantined == 0
    assert len(report.files_loaded) == len(expected_report.files_loaded) > 10
    assert all(name.endswith(lab_dialects.suffix(dialect)) for name in report.files_loaded)
    assert len(values) == len(expected) > 1000
    assert values == expected


def test_generate_landing_writes_the_chosen_dialect_with_its_quirks(canonical, tmp_path):
    generate_landing(tmp_path, cytometry_dialect="flowjo_csv")
    text = sorted((tmp_path / STATISTICS).rglob("*DETECT*.csv"))[0].read_text(encoding="utf-8")
    header, first, *_ = text.splitlines()
    assert header.startswith(",Leukocytes | Count,") and header.endswith(",")
    assert "| Freq. of Parent (%)" in header and first.endswith(",")
    assert "E+05" in text and "\nMean," in text and "\nSD," in text
    shutil.rmtree(tmp_path / STATISTICS)  # everything else is written as the canonical demo writes it
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        p.relative_to(canonical[0]) for p in canonical[0].rglob("*") if p.is_file() and STATISTICS not in str(p)
    )

"""The study report's PDF: printed by the machine's headless Chromium, or not written (and said so)
where there is none, never a stale or half-written file."""

import os
import re
import stat

import pytest

from cartwh.report.pdf import export_pdf, find_chromium

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><style>@page { size: A4; }</style></head>
<body><h1>Report</h1><p>Text.</p></body></html>"""


def test_without_chromium_no_pdf_and_the_reason(tmp_path, monkeypatch):
    monkeypatch.delenv("CARTWH_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to find
    html, pdf = tmp_path / "r.html", tmp_path / "r.pdf"
    html.write_text(PAGE, encoding="utf-8")
    pdf.write_bytes(b"%PDF- an earlier night's")
    exported = export_pdf(html, pdf)
    assert exported.path is None and "no headless Chromium" in exported.reason
    assert not pdf.exists()  # an earlier run's PDF would contradict tonight's page


def test_a_failing_browser_leaves_no_pdf(tmp_path, monkeypatch):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("CARTWH_CHROMIUM", str(fake))
    html, pdf = tmp_path / "r.html", tmp_path / "r.pdf"
    html.write_text(PAGE, encoding="utf-8")
    exported = export_pdf(html, pdf)
    assert exported.path is None and "exited with code 3: cannot open display" in exported.reason
    assert not pdf.exists() and not (tmp_path / "r.pdf.tmp").exists()


def test_prints_an_a4_pdf(tmp_path):
    if find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI: .ci/run installs the Debian package 'chromium'")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    html, pdf = tmp_path / "r.html", tmp_path / "r.pdf"
    html.write_text(PAGE, encoding="utf-8")
    exported = export_pdf(html, pdf)
    assert exported == (pdf, None)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert boxes and {(round(float(w)), round(float(h))) for w, h in boxes} == {(595, 842)}  # A4 in points

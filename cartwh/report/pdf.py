"""The study report as a PDF: the HTML page printed by headless Chromium through its print
stylesheet (A4, headings kept with what follows, tables and figures not split).

Chromium is the machine's own (Debian's ``chromium``, which .ci/run installs; any of
``CANDIDATES`` on PATH, or the executable named by ``CARTWH_CHROMIUM``): nothing is downloaded,
and the page is opened as a file with host-name resolution off, as the offline-HTML test opens
it. Without a Chromium the PDF is not written and ``export_pdf`` says why; a PDF of an earlier
run is removed rather than left to contradict the page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
TIMEOUT_SECONDS = 180


class PdfExport(NamedTuple):
    path: Path | None
    reason: str | None = None  # why there is no PDF


def find_chromium() -> str | None:
    return os.environ.get("CARTWH_CHROMIUM") or next(filter(None, map(shutil.which, CANDIDATES)), None)


def export_pdf(html: Path, pdf: Path) -> PdfExport:
    """Print `html` to `pdf` (written whole or not at all)."""
    executable = find_chromium()
    if executable is None:
        pdf.unlink(missing_ok=True)
        return PdfExport(None, "no headless Chromium on this machine (Debian: apt-get install chromium)")
    partial = pdf.with_suffix(".pdf.tmp")
    with tempfile.TemporaryDirectory(prefix="cartwh-pdf-") as profile:
        command = [
            executable,
            "--headless",
            "--no-sandbox",  # the pipeline may run as root (CI does); the page is our own file
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={partial}",
            html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            partial.unlink(missing_ok=True)
            pdf.unlink(missing_ok=True)
            return PdfExport(None, f"Chromium ({executable}) did not print the page: {error}")
    if done.returncode != 0 or not partial.exists() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        pdf.unlink(missing_ok=True)
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return PdfExport(None, f"Chromium ({executable}) exited with code {done.returncode}: {last}")
    os.replace(partial, pdf)
    return PdfExport(pdf)

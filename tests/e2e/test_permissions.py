"""File modes: what a run writes is the pipeline account's only; the published copy and the
reports are readable by the analysts' group."""

import os

import pytest

from tests.unit.warehouse.test_permissions import _mode


def test_a_run_leaves_its_files_private_and_the_analysts_files_group_readable(demo_warehouse):
    root = demo_warehouse.parent
    assert _mode(root) == 0o710  # analysts pass through the data folder to published/ and reports/, cannot list it
    for private in ("archive", "landing", "quality"):
        assert _mode(root / private) == 0o700, private
    assert _mode(demo_warehouse) == 0o600
    assert (_mode(root / "published"), _mode(root / "published" / "warehouse.duckdb")) == (0o750, 0o640)
    reports = [root / "reports", *(root / "reports").rglob("*")]
    assert any(p.name == "study_report.html" for p in reports) and any(p.suffix == ".png" for p in reports)
    assert {_mode(p) for p in reports if p.is_dir()} == {0o750}
    assert {_mode(p) for p in reports if p.is_file()} == {0o640}
    archived = list((root / "archive").rglob("*"))
    assert archived and {_mode(p) for p in archived} <= {0o600, 0o700}  # written under umask 0o077
    shared = {root / "published", root / "reports"}
    for path in root.rglob("*"):  # anything else others could open sits in a folder closed to them
        if _mode(path) & 0o077 and not shared & {path, *path.parents}:
            assert any(_mode(f) == 0o700 for f in path.parents if root in f.parents), path


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another account")
def test_another_account_reads_what_the_analysts_group_may_and_nothing_else(demo_warehouse):
    """As an analyst's account would: another uid, with and without the group of the published
    copy. The child starts in the data folder (the pytest folders above it are 0700), and uses
    the system's tools (the test's own interpreter may live where that account cannot go)."""
    import subprocess

    root = demo_warehouse.parent
    export = next((root / "landing" / "redcap").glob("*.csv")).relative_to(root)
    group = (root / "published" / "warehouse.duckdb").stat().st_gid
    tries = {
        "published/warehouse.duckdb": "head -c 12 published/warehouse.duckdb | tail -c 4",
        "reports/study_report.html": "head -c 15 reports/study_report.html",
        "warehouse.duckdb": "head -c 1 warehouse.duckdb",
        "export": f"head -c 1 '{export}'",
        "archive": "ls archive",
        "data folder": "ls .",
    }

    def as_account(groups) -> dict[str, str]:
        answers = {}
        for what, command in tries.items():
            done = subprocess.run(
                ["/bin/sh", "-c", command],
                cwd=root,
                user=65534,
                group=65534,
                extra_groups=groups,
                capture_output=True,
                text=True,
                timeout=30,
            )
            answers[what] = "denied" if "Permission denied" in done.stderr else done.stdout.strip()
        return answers

    assert as_account([group]) == {
        "published/warehouse.duckdb": "DUCK",
        "reports/study_report.html": "<!DOCTYPE html>",
        "warehouse.duckdb": "denied",
        "export": "denied",
        "archive": "denied",
        "data folder": "denied",
    }
    assert set(as_account([]).values()) == {"denied"}

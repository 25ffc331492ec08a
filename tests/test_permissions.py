"""File modes: what a run writes is the pipeline account's only; the published copy and the
reports are readable by the analysts' group."""

import grp
import os
import stat
from pathlib import Path

import pytest

from cartwh.warehouse import permissions


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


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


def test_the_analysts_group_is_given_to_what_they_read_only(tmp_path, monkeypatch):
    group = next(g for g in grp.getgrall() if g.gr_gid != os.getgid())  # the run's account is root here
    data = tmp_path / "data"
    for folder in ("archive", "reports/figures", "published"):
        (data / folder).mkdir(parents=True)
    for file in (
        "warehouse.duckdb",
        "archive/a.csv",
        "reports/study_report.html",
        "reports/figures/f.png",
        "published/warehouse.duckdb",
    ):
        (data / file).write_text("x")
        os.chmod(data / file, 0o666)
    os.chmod(data / "published", 0o2777)  # an administrator's setgid folder keeps its setgid bit
    key = tmp_path / "etc" / "key"
    key.parent.mkdir()
    key.write_text("secret")
    monkeypatch.setenv("CARTWH_PSEUDONYM_KEY_FILE", str(key))
    monkeypatch.setenv("CARTWH_DATA", str(data))
    monkeypatch.setenv("CARTWH_ANALYSTS_GROUP", group.gr_name)
    for variable in (
        "DAGSTER_HOME",
        "CARTWH_WAREHOUSE",
        "CARTWH_ARCHIVE",
        "CARTWH_LANDING",
        "CARTWH_QUALITY",
        "CARTWH_REPORTS",
        "CARTWH_PUBLISHED",
    ):
        monkeypatch.delenv(variable, raising=False)
    permissions.secure_data_folder()
    modes = {str(p.relative_to(data)): (_mode(p), p.stat().st_gid == group.gr_gid) for p in data.rglob("*")}
    assert modes == {
        "archive": (0o700, False),
        "archive/a.csv": (0o666, False),  # closed by its folder
        "warehouse.duckdb": (0o600, False),
        "published": (0o2750, True),
        "published/warehouse.duckdb": (0o640, True),
        "reports": (0o750, True),
        "reports/figures": (0o750, True),
        "reports/study_report.html": (0o640, True),
        "reports/figures/f.png": (0o640, True),
    }
    assert (_mode(data), data.stat().st_gid == group.gr_gid) == (0o710, True)
    assert (_mode(key), key.stat().st_gid == group.gr_gid) == (0o600, False)
    monkeypatch.setenv("CARTWH_ANALYSTS_GROUP", "no-such-group-cartwh")
    with pytest.raises(ValueError, match="CARTWH_ANALYSTS_GROUP=no-such-group-cartwh: no such group"):
        permissions.secure_data_folder()


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

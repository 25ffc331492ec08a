"""File modes (cartwh/warehouse/permissions.py): the analysts' group is given only what they read.
What a run leaves: tests/e2e/test_permissions.py."""

import grp
import os
import stat
from pathlib import Path

import pytest

from cartwh.warehouse import permissions


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


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

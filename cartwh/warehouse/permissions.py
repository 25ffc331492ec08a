"""Who may read what on disk: the pipeline's files are its own account's; analysts read the
published copy and the reports, through a group.

- Every writer (a run, `cartwh ingest`, `cartwh rebuild`, `make serve`) works under umask 0o077,
  so whatever it creates (archive copies, the working warehouse with its write-ahead log, lock
  and spill files, Great Expectations results and Data Docs, Dagster's storage and logs, dbt's
  target/ and logs/) is readable and writable by the pipeline's account only.
- A run starts and ends by setting the modes of the data folder (`secure_data_folder`): the
  folders the pipeline owns 0o700 and the working warehouse 0o600 (a folder closed to others
  closes everything under it, whatever mode an older file inside it has); the published copy and
  the reports 0o640, their folders 0o750 (a setgid bit is kept), group CARTWH_ANALYSTS_GROUP when
  it is set (the pipeline's account must be a member); the data folder itself 0o710 when the
  published copy or the reports are inside it (analysts pass through it, they cannot list it).
  Again at the end, because reports are rewritten by rename and a file the run created is the
  pipeline's only until then.
- The key file (CARTWH_PSEUDONYM_KEY_FILE, when the key is read from one) is made 0o600 too.
- Only what the pipeline's account owns is changed: a landing folder written by another account
  (the EDC's transfer) keeps its modes, which its owner sets (README "Running it unattended").
"""

from __future__ import annotations

import grp
import logging
import os
import stat
from contextlib import contextmanager
from pathlib import Path

from cartwh import settings

log = logging.getLogger(__name__)

PIPELINE_UMASK = 0o077
PRIVATE_FILE, PRIVATE_FOLDER = 0o600, 0o700
SHARED_FILE, SHARED_FOLDER = 0o640, 0o750
PASS_THROUGH_FOLDER = 0o710  # a folder analysts cross to reach what is shared, without listing it


def keep_new_files_private() -> int:
    """Everything this process creates from now on is its account's only; returns the old umask."""
    return os.umask(PIPELINE_UMASK)


def _analysts_gid() -> int:
    group = settings.analysts_group()
    if not group:
        return -1  # keep the group the file has (the folder's, if it is setgid)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError(f"CARTWH_ANALYSTS_GROUP={group}: no such group on this machine") from None


def _ours(path: Path) -> bool:
    return path.exists() and path.lstat().st_uid == os.geteuid() and not path.is_symlink()


def _set_mode(path: Path, mode: int, gid: int = -1) -> None:
    if not _ours(path):
        return
    if path.is_dir():
        mode |= path.stat().st_mode & stat.S_ISGID  # new files keep taking the folder's group
    if gid != -1 and path.stat().st_gid != gid:
        try:
            os.chown(path, -1, gid)
        except PermissionError:
            raise PermissionError(
                f"{path}: cannot give it to group CARTWH_ANALYSTS_GROUP={settings.analysts_group()}: "
                "the pipeline's account must be a member of that group"
            ) from None
    os.chmod(path, mode)


def share_file(path: Path) -> None:
    """A file analysts read: 0o640, the analysts' group."""
    _set_mode(Path(path), SHARED_FILE, _analysts_gid())


def share_folder(path: Path) -> None:
    """A folder analysts read (not what is inside it): 0o750, the analysts' group."""
    _set_mode(Path(path), SHARED_FOLDER, _analysts_gid())


def share_tree(folder: Path) -> None:
    """A folder and everything the pipeline wrote in it, for analysts."""
    gid = _analysts_gid()
    for parent, _folders, files in os.walk(folder):
        _set_mode(Path(parent), SHARED_FOLDER, gid)
        for name in files:
            _set_mode(Path(parent) / name, SHARED_FILE, gid)


def make_private(path: Path) -> None:
    path = Path(path)
    _set_mode(path, PRIVATE_FOLDER if path.is_dir() else PRIVATE_FILE)


def private_paths() -> list[Path]:
    warehouse = settings.warehouse_path()
    paths = [
        warehouse,
        Path(f"{warehouse}.wal"),
        Path(f"{warehouse}.lock"),
        Path(f"{warehouse}.tmp"),
        settings.archive_dir(),
        settings.landing_dir(),
        settings.quality_dir(),
        settings.data_manager_dir(),
    ]
    # dbt.log. Not the project's target/: the docs site `make docs` writes there (the data
    # dictionary: no patient value) is for analysts; the nights' builds are in the data folder.
    paths.append(settings.PROJECT_ROOT / "dbt_project" / "logs")
    paths.append(
        settings.dbt_target_dir()
    )  # the nights' dbt builds: compiled SQL, dbt.log (its errors can quote a value)
    paths.append(settings.dagster_home())  # Dagster's storage, DAGSTER_HOME or the data folder's
    paths.append(settings.data_dir() / "logs")  # `cartwh run`'s logs: tracebacks can quote an export's line
    if os.environ.get("CARTWH_PSEUDONYM_KEY_FILE"):  # the key, when read from a file
        paths.append(Path(os.environ["CARTWH_PSEUDONYM_KEY_FILE"]))
    return paths


def secure_data_folder() -> None:
    """Set the modes of everything a run reads and writes (see the module's docstring)."""
    data, gid = settings.data_dir(), _analysts_gid()
    published, reports = settings.published_path(), settings.report_dir()
    shared_inside = any(data in p.parents for p in (published, reports))
    _set_mode(data, PASS_THROUGH_FOLDER if shared_inside else PRIVATE_FOLDER, gid if shared_inside else -1)
    for path in private_paths():
        make_private(path)
    for folder in {published.parent, reports}:
        for between in folder.parents:  # e.g. data/shared/ between data/ and data/shared/reports
            if data in between.parents:
                _set_mode(between, PASS_THROUGH_FOLDER, gid)
    if published.parent != data:
        share_folder(published.parent)
    share_file(published)
    share_tree(reports)


@contextmanager
def pipeline_file_modes():
    """For the length of a run: new files private, the data folder's modes set at the start and
    again at the end (whatever the run's outcome)."""
    previous = keep_new_files_private()
    try:
        secure_data_folder()
        yield
    finally:
        try:
            secure_data_folder()
        except OSError as error:  # the run's own outcome matters more than a mode it could not set
            log.warning("could not set the modes of the data folder: %s", error)
        os.umask(previous)

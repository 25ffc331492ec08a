"""Shared test set-up.

A fixed pseudonymisation secret, so ingestion never falls back to the public demo secret (and
never logs its warning) during the test run; a small warehouse harness for tests that write
exports by hand and ingest them; the session's builds (the demo's and the faults cohort's runs,
generated landings); and the one rule of the end-to-end marker: a test is `e2e` if and only if
its file is under tests/e2e/ (the tests of one package's code are under tests/unit/<package>/).
"""

import csv
import dataclasses
import hashlib
import hmac
import inspect
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from cartwh.contract.redcap import DICTIONARY_PATH, REPEATING_FORMS
from cartwh.generate import LandingSummary, generate_landing
from cartwh.ingest.load import ingest_source
from cartwh.ingest.warehouse import connect
from tests.fake_redcap import Project
from tests.paths import DBT_PROJECT, TESTS
from tests.session_builds import SessionBuilds, StoredRun, repeated

os.environ["CARTWH_PSEUDONYM_KEY"] = "cartwh-test-secret-not-for-real-patients"

# A suite started in the background (`make test &`, nohup) inherits SIGINT ignored, and Dagster's
# in-process runs give SIGTERM SIGINT's handler: every process a test starts would then ignore
# the Ctrl-C or SIGTERM the test sends it. The tests run as from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

E2E = TESTS / "e2e"  # the end-to-end tests: the folder marks them (pytest_collection_modifyitems)


def hmac_pseudonym(secret: str, record_id: str, site: str | None = None) -> str:
    """The pseudonym as the contract defines it, computed independently of cartwh: the first 16
    hex characters of HMAC-SHA256(secret, "<site>/<record id>") (of the value alone without a site)."""
    message = record_id if site is None else site + "/" + record_id
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()[:16]


def hmac_tube_key(secret: str, fcs_file: str, site: str) -> str:
    """The tube key as the contract defines it (HMAC-SHA256 of the domain prefix, the site, a NUL
    and the FCS file name), computed independently of cartwh."""
    message = b"cartwh tube key v2\x00" + site.encode() + b"\x00" + fcs_file.encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:16]


class Warehouse:
    """A temporary landing folder, archive and DuckDB warehouse."""

    source = "redcap"

    def __init__(self, root: Path):
        self.root = root
        self.landing = root / "landing"
        self.archive = root / "archive"
        self.con = connect(root / "w.duckdb")

    def ingest(self, source: str | None = None, **kwargs):
        return ingest_source(self.con, self.landing, source or self.source, self.archive, **kwargs)

    def rows(self, sql: str, params=None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def quarantine(self) -> list[tuple]:
        return self.rows(
            "SELECT file, row, column_name, reason, value, patient_key FROM raw.quarantine "
            "ORDER BY load_id, row, column_name"
        )


@pytest.fixture
def open_warehouse(tmp_path, monkeypatch):
    """open_warehouse(cls, secret): a harness of class `cls` ingesting under `secret`."""
    opened = []

    def open_(cls: type[Warehouse], secret: str) -> Warehouse:
        monkeypatch.setenv("CARTWH_PSEUDONYM_KEY", secret)
        opened.append(cls(tmp_path))
        return opened[-1]

    yield open_
    for warehouse in opened:
        warehouse.con.close()


def ingest_and_build(root: Path, *dbt_args: str) -> None:
    """What the main job does before its checks, without Dagster: the data dictionary, the REDCap
    export and the cytometry tables of root/landing into root/w.duckdb (archive root/archive), then
    `dbt <dbt_args>`."""
    from cartwh.contract.redcap_dictionary import project_dictionary
    from cartwh.ingest.dictionary_tables import publish_dictionary

    with connect(root / "w.duckdb") as con:
        publish_dictionary(con, project_dictionary())
        for source in ("redcap", "cytometry_manifest", "cytometry_statistics"):
            ingest_source(con, root / "landing", source, root / "archive")
    done = run_dbt(root / "w.duckdb", root, *dbt_args)
    assert done.returncode == 0, done.stdout[-3000:]


def run_dbt(warehouse: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    """dbt `args` in its own process on `warehouse`, with its target and logs under `out`."""
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            *args,
            "--profiles-dir",
            ".",
            "--target-path",
            str(out / "target"),
            "--log-path",
            str(out / "logs"),
        ],
        cwd=DBT_PROJECT,
        env={**os.environ, "CARTWH_WAREHOUSE": str(warehouse)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def run_main_job(root: Path, faults: bool = False, prepare=None, generate: bool = True, engine: str = "duckdb"):
    """Generate a landing folder in `root` (unless `generate` is False: a real programme's night,
    or its next one) then `prepare(landing)`, e.g. to strip a source, and run the whole main job
    on it in-process, with every path under `root`, its models built on `engine`. Returns the job
    result and the generator's summary (None without one)."""
    # Imported before the environment points at `root`: the code location's resources are read from
    # the environment at its first import, and a session cohort's paths there (the demo's, built
    # first thing in a worker) would send a later test's use of them into the shared folder.
    from orchestration.definitions import defs
    from orchestration.resources import default_resources
    from orchestration.run import run_main_job as run

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CARTWH_DATA", str(root))
        patch.setenv("CARTWH_ENGINE", engine)
        patch.setenv("CARTWH_WAREHOUSE", str(root / "warehouse.duckdb"))  # the dbt resource passes it to dbt
        summary = generate_landing(root / "landing", faults=faults) if generate else None
        if prepare:
            prepare(root / "landing")

        here = dg.Definitions(
            assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=default_resources()
        )  # the resources of this root's paths
        return run(here), summary


@pytest.fixture(scope="session")
def main_job():
    """`run_main_job`, for tests that run the pipeline on a cohort of their own."""
    return run_main_job


@pytest.fixture(scope="session")
def session_builds(tmp_path_factory, pytestconfig) -> SessionBuilds:
    """The folder every xdist worker of this session shares (the parent of the workers' temporary
    folders; without xdist, the session's own), and the builds made in it (tests/session_builds.py)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    base = tmp_path_factory.getbasetemp()
    builds = SessionBuilds((base.parent if worker else base) / "session", worker or "main")
    pytestconfig.stash[_BUILDS] = builds
    return builds


_GENERATOR_DEFAULTS = {name: p.default for name, p in inspect.signature(generate_landing).parameters.items()}


@pytest.fixture(scope="session")
def generated(session_builds):
    """generated(folder, **options): what `generate_landing(folder, **options)` writes, generated
    once per session for each set of options and copied into `folder` (file times of now, as if
    written now); returns the generator's summary, naming `folder`. Tests of the generator itself
    call `generate_landing`."""

    def copy(folder: Path, **options) -> LandingSummary:
        options = {k: v for k, v in options.items() if _GENERATOR_DEFAULTS[k] != v}
        name = "landing" + "".join(f"-{k}={v}" for k, v in sorted(options.items()))
        built, summary = session_builds.build(name, lambda landing: generate_landing(landing, **options))
        shutil.copytree(built, folder, copy_function=shutil.copyfile, dirs_exist_ok=True)
        return dataclasses.replace(summary, landing=Path(folder))

    return copy


@pytest.fixture(scope="session")
def cohort(session_builds, generated):
    """cohort(name, faults=False, prepare=None, logged=False): the demo cohort (with the generator's
    faults) landed, changed by `prepare(landing)`, and through the whole main job (`run_main_job`),
    once per session under `name`, whichever worker asks first: (data folder, StoredRun, generator
    summary). `logged`: every Python log record of the run also in <data>/run.log. The folder is
    every test's: read it (DuckDB read_only), or copy it first (`demo_copy`)."""

    def run(name: str, faults: bool = False, prepare=None, logged: bool = False):
        def make(root: Path):
            summary = generated(root / "landing", faults=faults)
            result, _ = (_logged_run if logged else run_main_job)(root, prepare=prepare, generate=False)
            return StoredRun(root / "dagster_home", result.run_id), summary

        root, (stored, summary) = session_builds.build(name, make)
        return root, stored, summary

    return run


@pytest.fixture(scope="session")
def demo_run(cohort):
    """The demo cohort through the whole main job (ingestion, dbt build, checks, statistics,
    report) into a data folder built once per test session: (data folder, its StoredRun). Reports
    in <data>/reports, Great Expectations in <data>/quality, the Dagster instance (the run and its
    event log) in <data>/dagster_home."""
    root, run, _ = cohort("demo")
    assert run.success
    return root, run


@pytest.fixture(scope="session")
def demo_warehouse(demo_run) -> Path:
    """The session demo run's working warehouse."""
    return demo_run[0] / "warehouse.duckdb"


def _logged_run(root: Path, **options):
    """`run_main_job` with every Python log record of the run also written to <root>/run.log."""
    handler = logging.FileHandler(root / "run.log", encoding="utf-8")
    logging.getLogger().addHandler(handler)
    previous_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        return run_main_job(root, **options)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(previous_level)
        handler.close()


@pytest.fixture(scope="session")
def faults_warehouse(cohort):
    """The demo cohort with every generator fault (identifiers planted in free text, an FCS file
    name and a quarantined value included) through the whole main job, once per session:
    (data folder, StoredRun, landing summary, Dagster event log entries). Every Python log record
    of the run is also written to <data>/run.log."""
    root, run, summary = cohort("faults", faults=True, logged=True)
    with dg.DagsterInstance.from_config(str(root / "dagster_home")) as instance:  # the run's own, in its data folder
        entries = instance.all_logs(run.run_id)
    return root, run, summary, entries


@pytest.fixture(scope="session")
def demo_identifiers(demo_warehouse) -> list[str]:
    """Every name, MRN and birth date the demo's REDCap export holds: none may leave raw exports."""
    export = next((demo_warehouse.parent / "landing" / "redcap").glob("*.csv"))
    with open(export, newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["patient_name"]]
    return [r[column] for r in rows for column in ("patient_name", "mrn", "birth_date")]


@pytest.fixture
def demo_copy(demo_warehouse, tmp_path) -> Path:
    """A private copy of the demo's whole data folder (warehouse, published copy, landing, archive)."""
    data = tmp_path / "data"
    shutil.copytree(demo_warehouse.parent, data, ignore=shutil.ignore_patterns("*.lock"))
    return data


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    """A local SparkSession for a module of tests marked spark (one core, nothing written outside
    its temporary folder, no web UI), stopped after the module: a later module's session (a Spark
    build's, cartwh.spark.session) is then configured afresh. Needs the `spark` extra and Java:
    `make test-spark` installs both."""
    from pyspark.sql import SparkSession

    folder = tmp_path_factory.mktemp("spark")
    session = (
        SparkSession.builder.master("local[1]")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.warehouse.dir", str(folder / "warehouse"))
        .config("spark.sql.ansi.enabled", "false")  # as dbt-spark runs it
        .config("spark.sql.codegen.wholeStage.union.enabled", "false")  # as profiles.yml runs it, and why
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # The JVM starts with this session's options: a later session's metastore (Derby, a Spark
        # build's, cartwh.spark.session) then logs here, not into the folder the tests run in.
        .config("spark.driver.extraJavaOptions", f"-Dderby.stream.error.file={folder / 'derby.log'}")
        .getOrCreate()
    )
    yield session
    session.stop()


def data_env(data: Path) -> dict:
    """The environment of a `cartwh` process working on the data folder `data`."""
    return {**os.environ, "CARTWH_DATA": str(data), "CARTWH_WAREHOUSE": str(data / "warehouse.duckdb")}


@pytest.fixture
def demo_redcap_project(tmp_path, generated, monkeypatch) -> Project:
    """The demo cohort's REDCap export as a REDCap project (24 records, data access group huvr), for
    tests/fake_redcap.py's server to serve on the loopback (kept off any proxy)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    generated(tmp_path / "demo")
    [export] = (tmp_path / "demo" / "redcap").glob("*.csv")
    return Project.classic(DICTIONARY_PATH, export, REPEATING_FORMS)


# The cohorts many end-to-end modules share, costliest first. Built when a test first asks, each
# would be built by one worker while the others, whose first tests want it too, wait on its lock.
SHARED_COHORTS = ("demo_run", "faults_warehouse")


@pytest.fixture(scope="session", autouse=True)
def _shared_cohorts_first(request):
    """Each xdist worker starts with its share of the shared cohorts the selected tests need (worker
    i builds the i-th, the (i + n)-th, ...), so they are built side by side before any test waits."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return
    index, count = int(worker.removeprefix("gw")), int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    needed = [name for name in SHARED_COHORTS if any(name in item.fixturenames for item in request.session.items)]
    for name in needed[index::count]:
        request.getfixturevalue(name)


# Fixtures that stand for the whole main job (the session's demo and faults warehouses, or a run of a test's
# own cohort): only a test under tests/e2e/ may use one, directly or through another fixture.
END_TO_END_FIXTURES = {"demo_run", "demo_warehouse", "faults_warehouse", "main_job", "cohort"}


def pytest_collection_modifyitems(items):
    """Mark `e2e` every test under tests/e2e/, and no other (`make test-fast` leaves them out; `make
    test` runs all). A test elsewhere that uses a fixture of END_TO_END_FIXTURES or is marked e2e by
    hand stops the session: it belongs in tests/e2e/."""
    misplaced = []
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.e2e)
        elif item.get_closest_marker("e2e") or END_TO_END_FIXTURES & set(getattr(item, "fixturenames", ())):
            misplaced.append(item.nodeid)
    if misplaced:
        raise pytest.UsageError("end-to-end tests outside tests/e2e/, move them there: " + ", ".join(misplaced))


# What each process of the session built (tests/session_builds.py): a worker sends its list to the
# controller as it ends; the controller (or a run without xdist) prints them and fails the session
# if anything was built twice.
_BUILDS = pytest.StashKey[SessionBuilds]()
_MADE = pytest.StashKey[list]()


def _made(config) -> list:
    if _MADE not in config.stash:
        config.stash[_MADE] = []
    return config.stash[_MADE]


def pytest_sessionfinish(session):
    builds = session.config.stash.get(_BUILDS, None)
    made = builds.made if builds else []
    if hasattr(session.config, "workeroutput"):  # an xdist worker: the controller reports
        session.config.workeroutput["session_builds"] = made
        return
    _made(session.config).extend(made)
    if repeated(_made(session.config)) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_testnodedown(node, error):
    """xdist's controller: a worker ended; keep what it built."""
    _made(node.config).extend(tuple(made) for made in node.workeroutput.get("session_builds", []))


def pytest_terminal_summary(terminalreporter, config):
    made = _made(config)
    if not made:
        return
    terminalreporter.section("built once per session (tests/session_builds.py)")
    for name, worker, seconds in sorted(made):
        terminalreporter.write_line(f"built {name} in {worker}: {seconds} s")
    for name, count in repeated(made).items():
        terminalreporter.write_line(f"FAILED: {name} built {count} times", red=True)

"""Where things live. Every path can be overridden by an environment variable, so Dagster,
dbt (`profiles.yml` reads CARTWH_WAREHOUSE) and the command line agree on one warehouse."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _path(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    return _path("CARTWH_DATA", PROJECT_ROOT / "data")


def dagster_home() -> Path:
    """Dagster's instance (runs, event logs) shared by `cartwh run` and `make serve`, so the UI lists both."""
    return _path("DAGSTER_HOME", data_dir() / "dagster_home")


def dbt_target_dir() -> Path:
    """dbt's target folder for the nights' builds (each build's own folder in it, with its compiled SQL,
    run_results.json and dbt.log, and the parse the next night starts from): beside the data it was
    built from, private to the pipeline, not in the project (dbt_project/target keeps the manifest
    `make install` prepares and the docs site)."""
    return _path("CARTWH_DBT_TARGET", data_dir() / "dbt_target")


def warehouse_path() -> Path:
    """The one DuckDB file shared by ingestion, dbt and the statistics."""
    return _path("CARTWH_WAREHOUSE", data_dir() / "warehouse.duckdb")


ENGINES = ("duckdb", "spark")


def engine() -> str:
    """The engine dbt builds the models on (CARTWH_ENGINE, default duckdb): duckdb in the warehouse
    file itself; spark from the raw layer handed over as Parquet, the marts taken back into the
    warehouse (cartwh/spark/, docs/scaling.md "Spark"). Also the dbt target (profiles.yml)."""
    value = os.environ.get("CARTWH_ENGINE", "duckdb")
    if value not in ENGINES:
        raise ValueError(f"CARTWH_ENGINE={value!r}: give one of {', '.join(ENGINES)}")
    return value


def spark_dir() -> Path:
    """Spark's folder: the raw hand-over, the metastore and the tables a Spark build writes."""
    return _path("CARTWH_SPARK_DIR", data_dir() / "spark")


def landing_dir() -> Path:
    """Where the EDC and the cytometry lab drop their exports."""
    return _path("CARTWH_LANDING", data_dir() / "landing")


def archive_dir() -> Path:
    """Content-addressed copies of every ingested file version (raw exports are never lost)."""
    return _path("CARTWH_ARCHIVE", data_dir() / "archive")


def analyses_path() -> Path:
    """The study's analysis plan: which survival analyses, tables and figures to produce."""
    return _path("CARTWH_ANALYSES", PROJECT_ROOT / "analyses.yml")


def quality_dir() -> Path:
    """Great Expectations' working project: validation results and the Data Docs site."""
    return _path("CARTWH_QUALITY", data_dir() / "quality")


def report_dir() -> Path:
    """Where the study report (HTML and figure files) is written."""
    return _path("CARTWH_REPORTS", data_dir() / "reports")


def data_manager_dir() -> Path:
    """The data manager's restricted reports: record ids and file names, so private to the
    pipeline's account like the archive (cartwh/warehouse/permissions.py), never shared with analysts."""
    return _path("CARTWH_DATA_MANAGER", data_dir() / "data_manager")


def published_path() -> Path:
    """The copy analysts read: replaced atomically, only after a run whose blocking checks passed."""
    return _path("CARTWH_PUBLISHED", data_dir() / "published" / "warehouse.duckdb")


def site() -> str | None:
    """The site of a single-site programme: the site of every export that names none itself (no
    data access group, no `site` column) and lands directly in its source's folder."""
    return os.environ.get("CARTWH_SITE") or None


def analysts_group() -> str:
    """The OS group whose members read the published copy and the reports (cartwh/warehouse/permissions.py);
    empty: the files keep the group they get from their folder."""
    return os.environ.get("CARTWH_ANALYSTS_GROUP", "")


def duckdb_memory_limit() -> str:
    """DuckDB's memory ceiling for every writer (ingestion, dbt, checks, statistics): beyond it
    DuckDB spills to disk instead of growing. Its own default, 80 % of RAM, let dbt take 8 GB on
    the 100,000-patient registry (docs/scaling.md)."""
    return os.environ.get("CARTWH_DUCKDB_MEMORY", "4GB")


def sql_time_limit() -> float:
    """Seconds one `cartwh sql` statement may run before it is interrupted (default 5 minutes):
    a runaway query (a cross join of three big tables) must not hold a core until someone kills it."""
    return _positive("CARTWH_SQL_TIMEOUT", "300", "the time limit of a query in seconds")


def redcap_deadline_seconds() -> float:
    """Seconds the REDCap API pull of one site may take in all (default 2 hours): a server that
    stops answering, or trickles, must not hold the night (cartwh/pull/redcap_api.py)."""
    return _positive("CARTWH_REDCAP_DEADLINE", "7200", "the deadline of a site's pull in seconds")


def redcap_max_answer_bytes() -> int:
    """The largest answer of REDCap's API a pull accepts, in MB (default 4096): one record export
    of a large project, not an endless stream."""
    return int(_positive("CARTWH_REDCAP_MAX_MB", "4096", "the largest API answer in MB") * 2**20)


def _positive(variable: str, default: str, what: str) -> float:
    value = os.environ.get(variable, default)
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0:
        raise ValueError(f"{variable}={value!r}: give {what}, more than 0")
    return number


def sql_memory_limit() -> str:
    """DuckDB's memory ceiling for one `cartwh sql` session. Nothing spills to disk there, so a
    query that needs more stops with a clear message instead of writing beside the published copy."""
    return os.environ.get("CARTWH_SQL_MEMORY", "2GB")


def sql_threads() -> int:
    """Threads of one `cartwh sql` session, so analysts' queries leave cores to the nightly run."""
    value = os.environ.get("CARTWH_SQL_THREADS", "2")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"CARTWH_SQL_THREADS={value!r}: give a whole number of threads, 1 or more")
    return int(value)


def nightly_cron() -> str:
    """When the nightly run fires (cron, in `timezone()`); default 02:00."""
    return os.environ.get("CARTWH_NIGHTLY_CRON", "0 2 * * *")


def timezone() -> str:
    return os.environ.get("CARTWH_TIMEZONE", "Europe/Madrid")

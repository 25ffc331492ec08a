"""Run the analysis plan on the marts and write the `analytics` schema in one transaction.

Every analytics row carries the analysis name, the mart snapshot it was computed from (a
content hash of the input rows: same marts, same snapshot) and the code version, so a
number in a report can be traced to its data and its code.
"""

from __future__ import annotations

import hashlib
import subprocess

import duckdb
import pandas as pd

from cartwh import __version__, settings
from cartwh.stats.cox import cox_model
from cartwh.study.analytics_tables import ANALYTICS_TABLES
from cartwh.study.blocking import NO_BLOCKS, Blocks, apply_blocks
from cartwh.study.competing_risk_analyses import competing_risk_models, run_competing_risks
from cartwh.study.config import Plan
from cartwh.study.group_comparisons import comparison_rows
from cartwh.study.survival_analyses import run_follow_up, run_survival
from cartwh.warehouse.connection import transaction


def read_marts(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, pd.DataFrame]:
    patients = con.execute("SELECT * FROM marts.patients ORDER BY patient_key").df()
    tte = con.execute(
        "SELECT patient_key, paramcd, aval, is_event, cause FROM marts.time_to_event ORDER BY patient_key, paramcd"
    ).df()
    return patients, tte


def mart_snapshot(*frames: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(",".join(frame.columns).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return "sha256:" + digest.hexdigest()[:16]


def code_version() -> str:
    """The package version and, in a git checkout, the commit (+dirty if files differ)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(settings.PROJECT_ROOT), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = "+dirty" if git("status", "--porcelain", "--untracked-files=no") else ""
        return f"cartwh {__version__} ({commit}{dirty})"
    except (OSError, subprocess.SubprocessError):
        return f"cartwh {__version__}"


def endpoint_data(patients: pd.DataFrame, tte: pd.DataFrame) -> pd.DataFrame:
    """One row per patient x endpoint with the patient columns the plan groups by."""
    return tte.merge(patients, on="patient_key", how="left", validate="many_to_one")


def _cox_rows(data: pd.DataFrame, plan: Plan) -> list[pd.DataFrame]:
    models = []
    for a in plan.cox:
        try:
            model = cox_model(data[data["paramcd"] == a.endpoint], "aval", "is_event", list(a.factors), a.reference)
        except ValueError as error:  # e.g. the planned reference level does not occur in tonight's data
            model = pd.DataFrame([{"term": None, "reason": f"not fitted: {error}"}])
        models.append(model.assign(analysis=a.name, endpoint=a.endpoint, model=" + ".join(a.factors)))
    return models


def run_plan(patients: pd.DataFrame, tte: pd.DataFrame, plan: Plan) -> dict[str, pd.DataFrame]:
    """Every analytics table as a DataFrame (no provenance columns yet)."""
    rows: dict[str, list] = {name: [] for name in ANALYTICS_TABLES}
    data = endpoint_data(patients, tte)
    for analysis in plan.survival:
        run_survival(data, analysis, plan, rows)
    for analysis in plan.follow_up:
        run_follow_up(data, analysis, plan, rows)
    rows["cox_models"] = _cox_rows(data, plan)
    for analysis in plan.competing_risks:
        run_competing_risks(data, analysis, plan, rows)
    rows["competing_risk_models"] = [competing_risk_models(data, r, plan) for r in plan.competing_risk_regression]
    rows["group_comparisons"] = [comparison_rows(t, patients, tte, plan.conventions) for t in plan.tables]
    frames = {}
    for name, items in rows.items():
        parts = [i if isinstance(i, pd.DataFrame) else pd.DataFrame([i]) for i in items]
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"analysis": []})
        frames[name] = frame[["analysis", *[c for c in frame.columns if c != "analysis"]]]
    return frames


def write_analytics(con: duckdb.DuckDBPyConnection, frames: dict[str, pd.DataFrame]) -> None:
    """Replace the analytics tables together: readers never see half of a new set."""
    with transaction(con):
        con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        for name, frame in frames.items():
            con.register("_analytics_frame", frame)
            con.execute(f"CREATE OR REPLACE TABLE analytics.{name} AS SELECT * FROM _analytics_frame")
            con.unregister("_analytics_frame")


def compute_analytics(
    con: duckdb.DuckDBPyConnection, plan: Plan, blocks: Blocks = NO_BLOCKS
) -> dict[str, pd.DataFrame]:
    """The plan on the marts, written to `analytics`; what `blocks` blocks holds its reason instead."""
    patients, tte = read_marts(con)
    snapshot, version = mart_snapshot(patients, tte), code_version()
    frames = {
        name: frame.assign(mart_snapshot=snapshot, code_version=version)
        for name, frame in apply_blocks(run_plan(patients, tte, plan), plan, blocks).items()
    }
    write_analytics(con, frames)
    return frames

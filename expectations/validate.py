"""Run one suite with Great Expectations 1.x on a pandas frame read from DuckDB.

The GX project is file-mode. Its configuration is committed in `expectations/gx/`; GX rewrites
that file with fresh ids whenever a data source is saved, so each run works in a copy under
the data folder (`<data>/quality/gx/`, where the Data Docs site and validation results live
too) and the repository stays clean. Each run syncs the suite from its YAML, validates
through a Checkpoint (which stores the validation result; cartwh.quality.data_docs renders the
results as pages that open offline, so GX's own site, built from CDN assets, is never built), and
returns plain outcome objects. GX's SQL data source on DuckDB has open
bugs, so GX only ever sees pandas frames; a batch suite's frame is read in chunks so memory
stays bounded however much landed. Nothing here imports GX until a suite actually runs.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from expectations.suites import REPORTED_KEYS, Expectation, Suite

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no network calls from a clinical machine
CHUNK_VECTORS = 256  # DuckDB vectors of 2,048 rows: about 500,000 rows per validated chunk
MAX_ROWS_KEPT = 200  # failing rows stored per expectation and chunk; the count is always complete


@dataclass
class ExpectationOutcome:
    expectation: Expectation
    success: bool
    element_count: int | None
    unexpected_count: int | None
    observed: str | None
    failing_rows: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class SuiteOutcome:
    suite: Suite
    rows_validated: int
    outcomes: list[ExpectationOutcome]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def blocking_failed(self) -> bool:
        return any(o.expectation.severity == "blocking" for o in self.failed)

    @property
    def blocks_everything(self) -> bool:
        """A failed blocking expectation that names no `blocks`: nothing downstream may run."""
        return any(o.expectation.blocks_everything for o in self.failed)


TEMPLATE = Path(__file__).resolve().parent / "gx" / "great_expectations.yml"


def gx_context(root: Path):
    """The file-mode context at `root`, its configuration fresh from the committed template."""
    import great_expectations as gx

    config = Path(root) / "gx" / "great_expectations.yml"
    config.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATE, config)
    return gx.get_context(mode="file", project_root_dir=str(root))


def _row_condition(expectation: Expectation) -> dict:
    """GX's Condition object for `when` (string row conditions are deprecated since GX 1.9)."""
    if not expectation.when:
        return {}
    from great_expectations.expectations.row_conditions import Column

    ((column, value),) = expectation.when.items()
    condition = Column(column).is_not_null() if value == "present" else Column(column) == value
    return {"row_condition": condition}


def _checkpoint(context, suite: Suite):
    """The suite's GX objects (a pandas data source of its own, suite, validation definition,
    checkpoint), rewritten from its YAML: a saved data source cannot be reused across
    contexts in GX 1.24 (MissingDataContextError), so it is recreated."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    batch = (
        context.data_sources.add_or_update_pandas(suite.name)
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("frame")
    )
    gx_suite = gx.ExpectationSuite(
        name=suite.name,
        expectations=[
            getattr(gxe, e.type)(
                **e.kwargs, **_row_condition(e), meta={"position": i, "severity": e.severity, "why": e.why}
            )
            for i, e in enumerate(suite.expectations)
        ],
    )
    gx_suite = context.suites.add_or_update(gx_suite)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite)
    )
    return context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=suite.name,
            validation_definitions=[definition],
            actions=[],
            result_format={"result_format": "COMPLETE"},
        )
    )


def _observed(value) -> str | None:
    return None if value is None else str(value)


def _values(rows: pd.DataFrame, expectation: Expectation) -> pd.Series | None:
    """The offending value as text: the `show` column's, the checked column's, or 'A vs B'."""
    kwargs = expectation.kwargs
    if expectation.show in rows.columns:
        return expectation.show + " " + rows[expectation.show].astype(str)
    if kwargs.get("column") in rows.columns:
        return rows[kwargs["column"]].astype(str)
    if kwargs.get("column_A") in rows.columns:
        return rows[kwargs["column_A"]].astype(str) + " vs " + rows[kwargs["column_B"]].astype(str)
    return None


def _outcomes(suite: Suite, result, frame: pd.DataFrame) -> list[ExpectationOutcome]:
    (validation,) = result.run_results.values()
    # GX does not keep the suite's order in its results: match them back by position.
    by_position = {r.expectation_config.meta["position"]: r for r in validation.results}
    out = []
    for position, expectation in enumerate(suite.expectations):
        r = by_position[position]
        index = (r.result or {}).get("unexpected_index_list") or []
        rows = frame.loc[index[:MAX_ROWS_KEPT], [k for k in REPORTED_KEYS if k in frame.columns]].copy()
        rows["value"] = _values(frame.loc[index[:MAX_ROWS_KEPT]], expectation)
        out.append(
            ExpectationOutcome(
                expectation,
                bool(r.success),
                (r.result or {}).get("element_count"),
                (r.result or {}).get("unexpected_count"),
                _observed((r.result or {}).get("observed_value")),
                rows,
            )
        )
    return out


def _merge(parts: list[list[ExpectationOutcome]]) -> list[ExpectationOutcome]:
    """One outcome per expectation over all chunks of a batch."""
    merged = []
    for chunks in zip(*parts, strict=True):  # every chunk has one outcome per expectation
        first = chunks[0]
        counts = [c.unexpected_count for c in chunks if c.unexpected_count is not None]
        merged.append(
            ExpectationOutcome(
                first.expectation,
                all(c.success for c in chunks),
                sum(c.element_count or 0 for c in chunks),
                sum(counts) if counts else None,
                first.observed,
                pd.concat([c.failing_rows for c in chunks], ignore_index=True),
            )
        )
    return merged


def _frames(con: duckdb.DuckDBPyConnection, suite: Suite):
    result = con.execute(suite.sql)
    if suite.scope == "table":  # marts: one frame (distribution checks need every row at once)
        yield result.df()
        return
    while True:
        chunk = result.fetch_df_chunk(CHUNK_VECTORS)
        if chunk.empty:
            return
        yield chunk


def run_suite(con: duckdb.DuckDBPyConnection, suite: Suite, gx_root: Path, run_name: str) -> SuiteOutcome:
    """Validate the suite's frame (for a batch suite, `batch` must be registered on `con`)."""
    from great_expectations.core.run_identifier import RunIdentifier

    checkpoint = None
    parts, rows = [], 0
    for frame in _frames(con, suite):
        if frame.empty:
            continue
        checkpoint = checkpoint or _checkpoint(gx_context(gx_root), suite)
        result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name))
        parts.append(_outcomes(suite, result, frame))
        rows += len(frame)
    return SuiteOutcome(suite, rows, _merge(parts) if parts else [])

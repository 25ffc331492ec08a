"""The design matrix of a proportional-hazards regression (Cox, Firth, Fine-Gray), built once.

* Factors holding strings, categories or booleans are dummy-coded against a reference level:
  ``reference[factor]`` if given, else the first level in sorted (string) order. A dummy term
  is named ``"factor=level"``. Numeric factors enter as one linear term named after the column
  (integer group codes are therefore NOT dummy-coded: pass them as str), divided by their SD
  (an exact reparametrisation the fitters undo, ``Term.scale``), so tiny units neither trip a
  fitter's low-variance check nor make a runaway estimate look small.
* Rows with a missing value in any used column are dropped and counted.

Invalid input raises ``ValueError``: no factors, unknown columns, negative or infinite
durations, an unobserved reference level, a reference level for a numeric factor.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype


class Term(NamedTuple):
    term: str
    factor: str
    level: str | None
    reference: str | None
    scale: float  # the SD a numeric factor was divided by (1 for a dummy)


class Design(NamedTuple):
    terms: list[Term]
    X: pd.DataFrame  # one column per term, rows of the complete-case data
    problems: list[str]  # why no model can be fitted (a single level, a constant factor) or separation


def is_numeric(s: pd.Series) -> bool:
    return is_numeric_dtype(s) and not is_bool_dtype(s)


def complete_cases(data: pd.DataFrame, duration: str, outcome: str, factors: list[str]) -> tuple[pd.DataFrame, int]:
    """The rows with every used column known (bools with gaps come back as bool), and how many
    were dropped; checks the columns and the durations."""
    if not factors:
        raise ValueError("at least one factor is needed")
    unknown = [c for c in [duration, outcome, *factors] if c not in data.columns]
    if unknown:
        raise ValueError(f"unknown column(s): {unknown}")
    if len(set(factors)) < len(factors) or {duration, outcome} & set(factors):
        raise ValueError("factors must be distinct and differ from the duration and outcome columns")
    used = data[[duration, outcome, *factors]]
    keep = ~used.isna().any(axis=1)
    df = used[keep].reset_index(drop=True).infer_objects()
    if len(df):
        t = df[duration]
        if not is_numeric(t) or not np.isfinite(t).all() or (t < 0).any():
            raise ValueError("durations must be numeric, finite and non-negative")
    return df, int((~keep).sum())


def _separation(factor: str, level: str, reference: bool, size: int) -> str:
    which = "reference level, " if reference else ""
    return (
        f"monotone likelihood (separation): no events in {factor}={level} "
        f"({which}0 of {size} rows), a hazard ratio is infinite"
    )


def design_matrix(df: pd.DataFrame, events: pd.Series, factors: list[str], reference: dict) -> Design:
    """Terms, the design matrix and structural problems; `events` (1 = an event of the outcome
    modelled) finds the levels without events, whose hazard ratio is infinite."""
    terms, columns, problems = [], {}, []
    events = events.astype(float)
    for f in factors:
        col = df[f]
        if is_numeric(col):
            if f in reference:
                raise ValueError(f"{f!r} is numeric (one linear term), it has no reference level; pass it as str")
            sd = float(col.std())
            terms.append(Term(f, f, None, None, sd if sd > 0 else 1.0))
            columns[f] = col / sd if sd > 0 else col.astype(float)
            if len(df) and col.nunique() < 2:
                problems.append(f"factor {f!r} is constant ({col.iloc[0]:g})")
            continue
        col = col.astype(str)
        levels = sorted(col.unique())
        ref = str(reference[f]) if f in reference else (levels[0] if levels else None)
        if levels and ref not in levels:
            raise ValueError(f"reference level {ref!r} of {f!r} is not among its levels {levels}")
        if len(levels) < 2:
            terms.append(Term(f, f, None, ref, 1.0))
            if levels:
                problems.append(f"factor {f!r} has a single level {ref!r}: nothing to compare")
            continue
        per_level = events.groupby(col).agg(["sum", "size"])
        for lvl in levels:
            if lvl != ref:
                terms.append(Term(f"{f}={lvl}", f, lvl, ref, 1.0))
                columns[f"{f}={lvl}"] = (col == lvl).astype(float)
            if per_level.loc[lvl, "sum"] == 0:
                problems.append(_separation(f, lvl, lvl == ref, int(per_level.loc[lvl, "size"])))
    return Design(terms, pd.DataFrame(columns, index=df.index), problems)


def is_separation(problem: str) -> bool:
    return problem.startswith("monotone likelihood")

"""Write REDCap flat CSV record exports (raw coded values) for a realised cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartwh.contract.redcap import (
    DATA_ACCESS_GROUP,
    REPEAT_INSTANCE,
    REPEAT_INSTRUMENT,
    REPEATING_FORMS,
    DataDictionary,
)
from cartwh.generate.timeline import Cohort


def _as_text(frame: pd.DataFrame, dictionary: DataDictionary) -> pd.DataFrame:
    """Render values as REDCap prints them: ISO dates, integers without '.0', blanks for missing."""
    out = frame.copy()
    for column in [REPEAT_INSTANCE] + [c for c in out.columns if c.endswith("_complete")]:
        out[column] = pd.to_numeric(out[column]).astype("Int64")
    for field in dictionary.fields:
        for column in field.export_columns:
            if column not in out:
                continue
            values = out[column]
            if field.sql_type == "DATE":
                out[column] = pd.to_datetime(values).dt.strftime("%Y-%m-%d")
            elif field.sql_type in ("BIGINT", "BOOLEAN") or field.field_type == "checkbox":
                out[column] = pd.to_numeric(values).astype("Int64")
    return out


def export_records(cohort: Cohort, dictionary: DataDictionary) -> pd.DataFrame:
    """All rows of the cohort in REDCap's flat export layout, records in design order."""
    header = dictionary.export_header()
    base = cohort.base.copy()
    for form in dictionary.forms:
        if form not in REPEATING_FORMS:
            base[f"{form}_complete"] = 2
    base["_record_order"] = np.arange(len(base))
    base["_row_order"] = 0
    order = dict(zip(base["record_id"], base["_record_order"], strict=True))
    dag = dict(zip(base["record_id"], base[DATA_ACCESS_GROUP], strict=True))
    parts = [base]
    for rank, form in enumerate(REPEATING_FORMS, start=1):
        rows = cohort.repeating[form].copy()
        rows[REPEAT_INSTRUMENT] = form
        rows[DATA_ACCESS_GROUP] = rows["record_id"].map(dag)
        rows[f"{form}_complete"] = 2
        rows["_record_order"] = rows["record_id"].map(order)
        rows["_row_order"] = rank * 1_000_000 + rows[REPEAT_INSTANCE]
        parts.append(rows)
    records = pd.concat(parts, ignore_index=True).sort_values(["_record_order", "_row_order"], kind="stable")
    return _as_text(records.reindex(columns=header), dictionary).reset_index(drop=True)

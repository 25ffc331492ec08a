"""The study report's data-quality summary: what was ingested, what was quarantined, and
which derived values are missing and why (the reasons the marts carry beside their NULLs)."""

from __future__ import annotations

import duckdb
import pandas as pd

FILES = """
    SELECT source, count(*) FILTER (WHERE superseded_by IS NULL) AS current_files,
           count(superseded_by) AS superseded_files, sum(rows_loaded) AS rows_loaded,
           sum(rows_quarantined) AS rows_quarantined, max(loaded_at) AS last_loaded_at
    FROM raw.landed_files GROUP BY source ORDER BY source
"""
QUARANTINE = """
    SELECT file, "row", column_name, reason FROM raw.quarantine ORDER BY quarantined_at DESC, file, "row" LIMIT 50
"""
# Derived values a reader of the tables would miss first, with the reason the mart gives.
MISSING = """
    SELECT 'Tumour-burden transition' AS value, transition_missing AS reason, count(*) AS patients
      FROM marts.tumor_burden_transitions WHERE tumor_burden_transition IS NULL GROUP BY ALL
    UNION ALL
    SELECT 'ALL-Hematotox score', 'missing: ' || missing_components, count(*)
      FROM marts.hematotox_scores WHERE hematotox_score IS NULL GROUP BY ALL
    UNION ALL
    SELECT 'AUC_14', auc_null_reason, count(*) FROM marts.car_t_expansion WHERE auc_14 IS NULL GROUP BY ALL
    UNION ALL
    SELECT 'Phenotype at peak', 'no phenotype tube at the peak sample', count(*)
      FROM marts.car_t_expansion WHERE NOT phenotype_at_peak_available GROUP BY ALL
    ORDER BY 1, 2
"""


def quality_summary(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame | int]:
    return {
        "files": con.execute(FILES).df(),
        "quarantine": con.execute(QUARANTINE).df(),
        "quarantine_total": int(con.execute("SELECT count(*) FROM raw.quarantine").fetchall()[0][0]),
        "missing": con.execute(MISSING).df(),
    }

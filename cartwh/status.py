"""What is in the warehouse: rows per table, files ingested, quarantine by reason."""

from __future__ import annotations

from pathlib import Path

from cartwh.ingest.warehouse import connect

# One line per mart: what an analyst checks first.
MART_SUMMARIES = {
    "patients": "SELECT string_agg(bridging_group || ' ' || n, ', ') FROM "
                "(SELECT bridging_group, count(*) AS n FROM marts.patients GROUP BY 1 ORDER BY 1)",
    "tumor_burden_transitions": "SELECT string_agg(coalesce(tumor_burden_transition, 'missing') || ' ' || n, ', ') FROM "
                                "(SELECT tumor_burden_transition, count(*) AS n FROM marts.tumor_burden_transitions "
                                "GROUP BY 1 ORDER BY 1)",
    "hematotox_scores": "SELECT count(hematotox_score) || ' scored, ' || count(*) - count(hematotox_score) "
                        "|| ' not estimable' FROM marts.hematotox_scores",
    "car_t_expansion": "SELECT count(*) FILTER (WHERE expanded) || ' of ' || count(*) || ' expanded > 5/uL, median peak '"
                       " || round(median(peak_car_t_per_ul), 1) || ' CAR-T/uL, AUC_14 for ' || count(auc_14) "
                       "FROM marts.car_t_expansion",
    "car_t_kinetics": "SELECT count(*) || ' samples of ' || count(DISTINCT patient_key) || ' patients' "
                      "FROM marts.car_t_kinetics",
    "bca_episodes": "SELECT string_agg(bca_outcome || ' ' || n, ', ') FROM "
                    "(SELECT bca_outcome, count(*) AS n FROM marts.bca_episodes GROUP BY 1 ORDER BY 1)",
    "time_to_event": "SELECT string_agg(paramcd || ' ' || events || '/' || n || ' events', ', ') FROM "
                     "(SELECT paramcd, count(*) AS n, count(*) FILTER (WHERE is_event) AS events "
                     "FROM marts.time_to_event GROUP BY 1 ORDER BY 1)",
}  # fmt: skip


def warehouse_summary(path: Path) -> str:
    if not Path(path).exists():
        return f"No warehouse at {path} yet: run `make run`."
    con = connect(path, read_only=True)
    try:
        tables = con.execute(
            "SELECT schema_name || '.' || table_name, estimated_size FROM duckdb_tables() "
            "WHERE schema_name = 'raw' ORDER BY 1"
        ).fetchall()
        lines = [f"Warehouse: {path}", "", f"{'table':<40}{'rows':>12}"]
        for table, _ in tables:
            count = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            lines.append(f"{table:<40}{count:>12,}")
        files = con.execute("SELECT source, count(*), count(superseded_by) FROM raw.landed_files GROUP BY 1 ORDER BY 1").fetchall()
        lines += ["", "files ingested (superseded):"] + [f"  {s:<24}{n:>8,} ({sup})" for s, n, sup in files]
        lines += _accounting_lines(con)
        reasons = con.execute(
            "SELECT regexp_replace(reason, '\\(rows .*\\)|[0-9]+', 'N', 'g') AS why, count(*) FROM raw.quarantine "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 10"
        ).fetchall()
        lines += ["", "quarantined values/rows by reason:" if reasons else "quarantine: empty"]
        lines += [f"  {n:>6,}  {why}" for why, n in reasons]
        built = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall()}
        marts = [m for m in MART_SUMMARIES if m in built]
        lines += ["", "marts:" if marts else "marts: not built yet"]
        lines += [f"  marts.{m:<26}{con.execute(MART_SUMMARIES[m]).fetchall()[0][0]}" for m in marts]
        return "\n".join(lines)
    finally:
        con.close()


def _accounting_lines(con) -> list[str]:
    """Every CSV record of every file version (current and superseded), per source: read =
    landed + quarantined + skipped (docs/data-contract.md section 5)."""
    totals = con.execute(
        "SELECT source, sum(records_read), sum(rows_landed), sum(rows_quarantined) FILTER (records_read IS NOT NULL), "
        "sum(records_skipped), count(*) FILTER (records_read IS NULL) FROM raw.landed_files GROUP BY 1 ORDER BY 1"
    ).fetchall()
    if not totals:
        return []
    lines = ["", "records read = landed + quarantined + skipped:"]
    for source, read, landed, quarantined, skipped, uncounted in totals:
        counts = f"{read or 0:>12,} = {landed or 0:>12,} + {quarantined or 0:>12,} + {skipped or 0:>10,}"
        lines.append(f"  {source:<24}{counts}"
                     + (f"  ({uncounted} file version(s) loaded before records were counted)" if uncounted else ""))
    return lines

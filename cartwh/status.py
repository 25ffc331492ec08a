"""What is in the warehouse: rows per table, files ingested, quarantine by reason."""

from __future__ import annotations

from pathlib import Path

from cartwh.ingest.warehouse import connect


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
        reasons = con.execute(
            "SELECT regexp_replace(reason, '\\(rows .*\\)|[0-9]+', 'N', 'g') AS why, count(*) FROM raw.quarantine "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 10"
        ).fetchall()
        lines += ["", "quarantined values/rows by reason:" if reasons else "quarantine: empty"]
        lines += [f"  {n:>6,}  {why}" for why, n in reasons]
        return "\n".join(lines)
    finally:
        con.close()

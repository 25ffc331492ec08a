"""What is in the warehouse: rows per table, files ingested, quarantine by reason.

`cartwh status` shows the published copy, what analysts read (`published_summary`), and says
which night it holds; `make run` prints the working warehouse it has just built (`warehouse_summary`).
Neither waits for or dies on a lock: the published copy is only ever replaced by a rename, so a
running night never holds it, and the working warehouse is looked at only to say why there is no copy.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from cartwh.night.published_night import describe, latest_unpublished, missing_copy_message, published_night
from cartwh.synthetic import BANNER, is_synthetic

# Row numbers and counts inside a reason vary by file; without them, one line per kind of problem.
_REASON = "regexp_replace(reason, '\\(rows .*\\)|[0-9]+', 'N', 'g')"

# One line per mart: what an analyst checks first (a mart without a summary here: its row count).
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
}


def warehouse_summary(path: Path) -> str:
    from cartwh.warehouse.connection import connect, quote_table

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
            count = con.execute(f"SELECT count(*) FROM {quote_table(table)}").fetchall()[0][0]
            lines.append(f"{table:<40}{count:>12,}")
        files = con.execute(
            "SELECT source, count(*), count(superseded_by) FROM raw.landed_files GROUP BY 1 ORDER BY 1"
        ).fetchall()
        lines += ["", "files ingested (superseded):"] + [f"  {s:<24}{n:>8,} ({sup})" for s, n, sup in files]
        lines += _accounting_lines(con)
        reasons = con.execute(
            f"SELECT {_REASON} AS why, count(*) FROM raw.quarantine GROUP BY 1 ORDER BY 2 DESC LIMIT 10"
        ).fetchall()
        return "\n".join(lines + _quarantine_lines(reasons) + _mart_lines(con))
    finally:
        con.close()


def run_summary_lines(path: Path, added: dict[str, int]) -> list[str]:
    """The working warehouse after a run, in a few lines (`cartwh run`'s summary; `cartwh status`
    has the whole table): rows this run added, files, the record accounting, the quarantine's
    three main reasons, one line per mart."""
    from cartwh.ingest.warehouse import connect

    con = connect(path, read_only=True)
    try:
        files = con.execute(
            "SELECT source, count(*), count(superseded_by) FROM raw.landed_files GROUP BY 1 ORDER BY 1"
        ).fetchall()
        read, landed, quarantined, skipped = con.execute(
            "SELECT sum(records_read), sum(rows_landed), sum(rows_quarantined) FILTER (records_read IS NOT NULL), "
            "sum(records_skipped) FROM raw.landed_files"
        ).fetchall()[0]
        reasons = con.execute(
            f"SELECT {_REASON} AS why, count(*) FROM raw.quarantine GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3"
        ).fetchall()
        total = con.execute("SELECT count(*) FROM raw.quarantine").fetchall()[0][0]
        new = ", ".join(f"{t.removeprefix('raw.')} {n:,}" for t, n in sorted(added.items(), key=lambda a: -a[1]) if n)
        lines = [
            f"Working warehouse {path}"
            + (" (SYNTHETIC DATA: the generator's demo, not patients)" if is_synthetic(con) else ""),
            f"  this run added {sum(added.values()):,} rows"
            + (f" ({_shorten(new, 90)})" if new else ": nothing new had landed"),
            "  files: " + ", ".join(f"{src} {n:,}" + (f" ({sup} superseded)" if sup else "") for src, n, sup in files),
            f"  records read {read or 0:,} = {landed or 0:,} landed + {quarantined or 0:,} quarantined + "
            f"{skipped or 0:,} skipped (header, blank, summary rows)",
            f"  quarantine: {total:,} value(s)/row(s)" + ("" if total else ", empty"),
        ]
        lines += [f"    {n:>6,}  {_shorten(why, 100)}" for why, n in reasons]
        return lines + _mart_lines(con)[1:]
    finally:
        con.close()


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _quarantine_lines(reasons: list[tuple[str, int]]) -> list[str]:
    return ["", "quarantined values/rows by reason:" if reasons else "quarantine: empty"] + [
        f"  {n:>6,}  {why}" for why, n in reasons
    ]


def _mart_lines(con: duckdb.DuckDBPyConnection) -> list[str]:
    # The marts the copy holds (the dbt project's models/marts, as built), summarised ones first.
    built = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall()}
    marts = [m for m in MART_SUMMARIES if m in built] + sorted(built - set(MART_SUMMARIES))
    summary = lambda m: MART_SUMMARIES.get(m, f"SELECT count(*) || ' rows' FROM marts.{m}")  # noqa: E731
    return ["", "marts:" if marts else "marts: not built yet"] + [
        f"  marts.{m:<26}{con.execute(summary(m)).fetchall()[0][0]}" for m in marts
    ]


class NothingPublished(Exception):
    """No published copy to show, or none that can be opened now; the message says which and why."""


def published_summary(published: Path, working: Path) -> str:
    """The published copy: the night it holds (and a later night that was not published), rows
    per table, files and quarantine from its de-identified quality schema, one line per mart."""
    from cartwh.warehouse.connection import quote_table

    if not Path(published).exists():
        raise NothingPublished(missing_copy_message(published, working))
    try:
        con = duckdb.connect(str(published), read_only=True)
    except duckdb.Error as error:  # not a lock (nothing writes the copy in place): unreadable, or not ours
        raise NothingPublished(
            f"The published copy {published} cannot be opened: {str(error).strip().splitlines()[0]}"
        ) from None
    try:
        night = published_night(con)
        lines = [
            f"Published copy (what analysts read): {published}",
            f"It holds the night of {describe(night)}." if night else "Its run history is empty.",
        ]
        lines += [f"SYNTHETIC DATA: {BANNER}"] if is_synthetic(con) else []
        later = latest_unpublished(published, working)
        if later is not None and (night is None or later["started_at"] > night["started_at"]):
            lines.append(f"A later night was not published: {describe(later)}; the copy is from the night before.")
        tables = con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables() ORDER BY 1").fetchall()
        lines += ["", f"{'table':<40}{'rows':>12}"]
        lines += [
            f"{t:<40}{con.execute(f'SELECT count(*) FROM {quote_table(t)}').fetchall()[0][0]:>12,}" for (t,) in tables
        ]
        present = {t for (t,) in tables}
        if "quality.files_per_source" in present:
            files = con.execute(
                "SELECT source, current_files + superseded_files, superseded_files "
                "FROM quality.files_per_source ORDER BY 1"
            ).fetchall()
            lines += ["", "files ingested (superseded):"] + [f"  {s:<24}{n:>8,} ({sup})" for s, n, sup in files]
        if "quality.quarantine_counts" in present:
            reasons = con.execute(
                f"SELECT {_REASON} AS why, sum(rows_quarantined)::BIGINT "
                "FROM quality.quarantine_counts WHERE in_current_files "
                "GROUP BY 1 ORDER BY 2 DESC LIMIT 10"
            ).fetchall()
            lines += _quarantine_lines(reasons)
        return "\n".join(lines + _mart_lines(con))
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
        lines.append(
            f"  {source:<24}{counts}"
            + (f"  ({uncounted} file version(s) loaded before records were counted)" if uncounted else "")
        )
    return lines

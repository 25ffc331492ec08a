"""The raw layer handed to Spark, and what Spark built taken back (docs/data-contract.md "Raw layer
handed over as Parquet").

Out: every table of dbt's raw source, as Parquet under <spark dir>/raw/contract_v<N>/<table>/,
partitioned by source and site (Hive folders `source=<source>/site=<site>`), N the contract version
the dbt project reads. A row's source is the ingestion source of the file version it was loaded
from; its site is its own `site` column, else the site its file declares (the folder right below its
source's folder, else CARTWH_SITE, as ingestion keys it). A table with neither (the data
dictionary's) is one unpartitioned file. tables.json lists the tables (JSON lines: table,
partitioned_by, rows, contract_version): dbt's on-run-start (macro register_raw_handover) registers
exactly these. The folder is replaced whole, never half-written: it is written beside and swapped in.

Back: the marts and the seeds dbt built on Spark (managed Parquet tables under
<spark dir>/warehouse/<schema>.db/<table>) replace their tables in the warehouse, in one
transaction; the staging and intermediate layers stay in Spark and are dropped from the warehouse,
so no earlier DuckDB build's derivations stand beside Spark's marts.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path, PurePosixPath

import duckdb

from cartwh.dbt import manifest as dbt_manifest
from cartwh.ingest.keys import declared_site
from cartwh.ingest.load import SOURCES
from cartwh.warehouse.connection import insert_rows, quote, quote_literal, transaction

PARTITIONS = ("source", "site")
NO_VALUE = "__HIVE_DEFAULT_PARTITION__"  # Hive's folder name for a NULL partition value
TABLES_FILE = "tables.json"  # not _tables.json: Spark skips files named _* (or .*)
DERIVED_LAYERS = ("staging", "intermediate")  # what Spark keeps; the warehouse holds the marts


def handover_dir(spark_dir: Path, version: int) -> Path:
    return spark_dir / "raw" / f"contract_v{version}"


def hand_over_raw(
    con: duckdb.DuckDBPyConnection,
    spark_dir: Path,
    tables: tuple[str, ...] | None = None,
    version: int | None = None,
) -> dict[str, int]:
    """Export the raw tables (default: dbt's raw source) as the contract version's hand-over
    (default: the dbt project's); rows per table."""
    tables = dbt_manifest.raw_sources() if tables is None else tables
    version = dbt_manifest.raw_contract_version() if version is None else version
    target = handover_dir(spark_dir, version)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _file_sources_and_sites(con)
    listing = []
    for table in tables:
        partitioned_by, rows = _export(con, table, partial / table)
        listing.append({"table": table, "partitioned_by": partitioned_by, "rows": rows, "contract_version": version})
    (partial / TABLES_FILE).write_text("".join(json.dumps(entry) + "\n" for entry in listing))
    _swap(partial, target)
    return {entry["table"]: entry["rows"] for entry in listing}


def _file_sources_and_sites(con: duckdb.DuckDBPyConnection) -> None:
    """_handover_files := (load_id, source, site) of every landed file version."""
    sites = []
    for load_id, source, file in con.execute("SELECT load_id, source, file FROM raw.landed_files").fetchall():
        path, folder = PurePosixPath(file), SOURCES[source].folder if source in SOURCES else None
        below = path.relative_to(folder).parts if folder and path.is_relative_to(folder) else ()
        site = declared_site(below[0] if len(below) > 1 else None)
        sites.append((load_id, source, site.strip().lower() if site else None))
    con.execute("CREATE OR REPLACE TEMP TABLE _handover_files (load_id BIGINT, source VARCHAR, site VARCHAR)")
    insert_rows(con, "_handover_files", sites)


def _export(con: duckdb.DuckDBPyConnection, table: str, folder: Path) -> tuple[str | None, int]:
    """Write one table; (its partition columns joined by ',' or None, its rows)."""
    columns = [
        c
        for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' AND table_name = ? "
            "ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]
    if not columns:
        raise LookupError(f"raw.{table} does not exist: the dbt project reads it, so ingestion must create it")
    load = next((c for c in ("_load_id", "load_id") if c in columns), None)
    derived = {c: f"f.{c}" for c in PARTITIONS if c not in columns and load}
    partitions = [c for c in PARTITIONS if c in columns or c in derived]
    select = ", ".join(["t.*", *(f"{expression} AS {c}" for c, expression in derived.items())])
    query = f"SELECT {select} FROM raw.{quote(table)} AS t"
    if derived:
        query += f" LEFT JOIN _handover_files AS f ON f.load_id = t.{quote(load)}"
    rows = con.execute(f"SELECT count(*) FROM raw.{quote(table)}").fetchone()[0]
    folder.mkdir()
    if not partitions:
        con.execute(f"COPY ({query}) TO {quote_literal(str(folder / 'data.parquet'))} (FORMAT parquet)")
    elif rows:
        by = ", ".join(partitions)
        con.execute(f"COPY ({query}) TO {quote_literal(str(folder))} (FORMAT parquet, PARTITION_BY ({by}))")
    else:  # no rows, no partition folders: one empty file keeps the columns (partitions NULL)
        empty = folder.joinpath(*(f"{c}={NO_VALUE}" for c in partitions))
        empty.mkdir(parents=True)
        kept = ", ".join(quote(c) for c in partitions)
        con.execute(
            f"COPY (SELECT * EXCLUDE ({kept}) FROM ({query}) WHERE false) "
            f"TO {quote_literal(str(empty / 'data.parquet'))} (FORMAT parquet)"
        )
    return (",".join(partitions) or None), rows


def _swap(partial: Path, target: Path) -> None:
    previous = target.with_name(target.name + ".previous")
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        target.rename(previous)
    partial.rename(target)
    shutil.rmtree(previous, ignore_errors=True)


def spark_table_files(spark_dir: Path, schema: str, name: str) -> Path:
    """Where Spark keeps a managed table's Parquet files (its warehouse folder, spark.sql.warehouse.dir)."""
    return spark_dir / "warehouse" / f"{schema}.db" / name


def take_back(con: duckdb.DuckDBPyConnection, spark_dir: Path, relations: list[tuple[str, str, dict]]) -> None:
    """Replace each (schema, table, its declared column types) of the warehouse with the table Spark
    built, and drop the layers Spark keeps; all in one transaction. A table Spark created empty has
    no file (an empty seed): it comes back empty, with its declared columns."""
    with transaction(con):
        for schema in DERIVED_LAYERS:
            con.execute(f"DROP SCHEMA IF EXISTS {quote(schema)} CASCADE")
        for schema, name, columns in relations:
            folder, table = spark_table_files(spark_dir, schema, name), f"{quote(schema)}.{quote(name)}"
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
            if any(folder.glob("*.parquet")) or not columns:
                files = quote_literal(str(folder / "*.parquet"))
                con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet({files})")
            else:
                declared = ", ".join(f"{quote(c)} {t}" for c, t in columns.items())
                con.execute(f"CREATE OR REPLACE TABLE {table} ({declared})")


def built_tables(run_results: dict, manifest: dict) -> list[tuple[str, str, dict]]:
    """The marts and seeds a dbt build made: (schema, table, declared column types) of each that
    succeeded; the types are a mart's contract, a seed's column_types."""
    built = []
    for result in run_results.get("results", []):
        node = manifest.get("nodes", {}).get(result["unique_id"], {})
        is_mart = node.get("resource_type") == "model" and dbt_manifest.layer(node) == "marts"
        if result["status"] == "success" and (is_mart or node.get("resource_type") == "seed"):
            declared = node.get("config", {}).get("column_types") or {
                c: column["data_type"] for c, column in node.get("columns", {}).items() if column.get("data_type")
            }
            built.append((node["schema"], node["alias"], declared))
    return built

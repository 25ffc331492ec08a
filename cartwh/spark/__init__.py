"""The dbt models built on Apache Spark instead of DuckDB (CARTWH_ENGINE=spark, docs/scaling.md
"Spark"): ingestion stays in DuckDB and hands the raw layer over as Parquet (handover.py); dbt
builds on Spark from it; the marts and reference tables it built come back into the warehouse
(handover.py), so the checks, statistics and published copy read them as after a DuckDB build;
session.py opens the Spark a build left, to read a failing test's rows."""

__all__ = [
    "handover",
    "session",
]

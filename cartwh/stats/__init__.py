"""Statistics of the study, as plain functions on pandas data; no Dagster, no DuckDB."""

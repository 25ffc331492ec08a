"""Ingestion of landed exports into the DuckDB raw layer.

`load` runs one pipeline for every source: it lists the source's landed files, batches them and
loads each batch in one transaction with its ledger rows and archive copies, which `landed_files`
writes (start there: `load.ingest_source`). A source says only what is its own (`loader.Loader`);
`sources` declares each one whole, and `SOURCES` (also `load.SOURCES`) in ingestion order. The
readers are `csv_reader` (records numbered once), `dialects` and `statistics_layouts` (how labs
write their tables); the loaders `redcap_loader` (a site's project onto the canonical dictionary
through `site_translation`), `cytometry_loader` and `deletions` validate and insert one source's rows, `fcs_loader` an FCS file's keywords (read by `fcs_keywords`) and the counts `fcs_gating` gets
from its FlowJo workspace or GatingML template; `keys`, `tubes`, `identifiers` and `record_map` keep identifiers out of
the warehouse; `validation` holds the row rules; `warehouse` the raw tables ingestion grows.
"""

__all__ = [
    "csv_reader",
    "cytometry_loader",
    "deletions",
    "dialects",
    "dictionary_tables",
    "errors",
    "failed_files",
    "fcs_gating",
    "fcs_keywords",
    "fcs_loader",
    "identifiers",
    "keys",
    "known_records",
    "landed_files",
    "load",
    "loader",
    "record_map",
    "record_shapes",
    "redcap_loader",
    "redcap_versions",
    "site_translation",
    "sources",
    "statistics_layouts",
    "tubes",
    "unrecognised",
    "validation",
    "warehouse",
]

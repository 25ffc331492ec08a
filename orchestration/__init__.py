"""Dagster wiring: definitions, resources, jobs. Logic lives in `cartwh`; assets in `assets/`."""

"""cartwh: a clinical data warehouse for CAR-T therapy in relapsed/refractory B-ALL.

The package holds the plain-Python domain logic (export contract, synthetic cohorts,
ingestion); Dagster wiring lives in `orchestration/` and `assets/`.
"""

__version__ = "0.1.0"

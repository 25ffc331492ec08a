"""cartwh: a clinical data warehouse for CAR-T therapy in relapsed/refractory B-ALL.

The package holds the plain-Python logic, in packages named after the question each answers
(README "Where things are"; each package's own docstring says which module answers what);
Dagster wiring lives in `orchestration/` and `assets/`.
"""

__version__ = "0.1.0"

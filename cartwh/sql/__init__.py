"""How do analysts query the published copy, and what can they not do?

`cartwh sql`: `shell` runs one query (`run_sql`) or the interactive session; each statement runs
in a `worker` process that can be ended when it does not stop; `guard` is what every statement
passes, the statement filter and DuckDB's locked settings (the boundary: no file, no network, no
write, no setting changed).
"""

__all__ = ["guard", "shell", "worker"]

"""What does the dbt project declare, and what does a build leave behind?

`manifest` reads the models, marts and raw sources from dbt's manifest (prepared at build time,
so nothing parses dbt at import); `test_summaries` turns a build's data tests into one result per
model for Dagster's asset checks; `target` prunes the build folders dagster-dbt leaves in dbt's
target/.
"""

__all__ = ["manifest", "target", "test_summaries"]

"""The dbt project Dagster runs (as dagster-open-platform's `project.py`): a leaf that the dbt
assets and the dbt resource both import, so neither has to import the other.

The manifest is prepared at build time (`make` runs `dbt parse`; `dagster dev` re-prepares
it), never parsed at import."""

from dagster_dbt import DbtProject

from cartwh.settings import PROJECT_ROOT

DBT_PROJECT = DbtProject(project_dir=PROJECT_ROOT / "dbt_project", profiles_dir=PROJECT_ROOT / "dbt_project")
DBT_PROJECT.prepare_if_dev()

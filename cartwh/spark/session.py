"""A SparkSession on what a Spark build left (its metastore and tables), configured as dbt's spark
target: the server_side_parameters of profiles.yml, rendered with this process's environment, so
the Spark configuration is written in one place. Needs the `spark` extra (pyspark) and Java."""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import pandas as pd
import yaml

from cartwh.settings import PROJECT_ROOT

PROFILES = PROJECT_ROOT / "dbt_project" / "profiles.yml"


def spark_parameters(spark_dir: Path, profiles: Path = PROFILES) -> dict[str, str]:
    """The Spark configuration of the spark target, for the Spark folder `spark_dir`."""
    environment = {**os.environ, "CARTWH_SPARK_DIR": str(spark_dir)}
    rendered = jinja2.Template(profiles.read_text()).render(
        env_var=lambda name, default=None: environment.get(name, default)
    )
    return {
        str(k): str(v)
        for k, v in yaml.safe_load(rendered)["cartwh"]["outputs"]["spark"]["server_side_parameters"].items()
    }


class SparkQuery:
    """SQL run on the Spark folder `spark_dir`, each result a DataFrame. The session (a JVM: seconds
    to start) starts at the first query, so a night whose tests all passed starts none; close() stops it."""

    def __init__(self, spark_dir: Path):
        self.spark_dir = spark_dir
        self._session = None

    def __call__(self, sql: str) -> pd.DataFrame:
        if self._session is None:
            from pyspark.sql import SparkSession  # the optional `spark` extra, only on this engine

            builder = SparkSession.builder.enableHiveSupport()
            for name, value in spark_parameters(self.spark_dir).items():
                builder = builder.config(name, value)
            self._session = builder.getOrCreate()
        return self._session.sql(sql).toPandas()

    def close(self) -> None:
        if self._session is not None:
            self._session.stop()
            self._session = None

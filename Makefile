# Two commands on a fresh machine: `make run` and `make test`. Both create .venv first.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print)

DAGSTER_HOME ?= $(or $(CARTWH_DATA),$(CURDIR)/data)/dagster_home

.PHONY: install run spark-run test test-fast test-spark schemas lint bench status serve docs lock clean

$(STAMP): requirements.lock pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP) $(MANIFEST)

# The `spark` extra (pyspark, dbt-spark) and Java 17 for the targets that build on Spark, in an
# environment of its own: with pyspark installed, Great Expectations imports Spark Connect, whose
# dependency check ends pytest-xdist's workers (sys.exit), so `make test` keeps .venv without it.
# Debian's JRE is installed where no java is on PATH (as root: CI, or with sudo).
SPARK_VENV  := .venv-spark
SPARK_STAMP := $(SPARK_VENV)/.installed-$(shell cat requirements-spark.lock requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

$(SPARK_STAMP): requirements-spark.lock requirements.lock pyproject.toml
	python3 -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/pip install --quiet --upgrade pip
	$(SPARK_VENV)/bin/pip install --quiet -r requirements.lock -r requirements-spark.lock
	$(SPARK_VENV)/bin/pip install --quiet --no-deps -e .
	command -v java >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; }
	rm -f $(SPARK_VENV)/.installed-* && touch $(SPARK_STAMP)

# The dbt manifest is prepared at build time, so nothing parses dbt when Dagster imports; with the
# warehouse and memory settings `make run` gives dbt (cartwh.settings), so a night's `dbt build`
# reuses the parse (dbt parses again when its profile differs: another data folder parses once).
$(MANIFEST): $(STAMP) $(DBT_SOURCES)
	cd dbt_project && CARTWH_WAREHOUSE=$(or $(CARTWH_WAREHOUSE),$(or $(CARTWH_DATA),$(CURDIR)/data)/warehouse.duckdb) \
		CARTWH_DUCKDB_MEMORY=$(or $(CARTWH_DUCKDB_MEMORY),4GB) ../$(VENV)/bin/dbt parse --profiles-dir . --quiet

run: $(STAMP) $(MANIFEST)  ## ingest whatever landed (into a data folder that never held anything: the synthetic demo cohort) and print where it is
	$(VENV)/bin/cartwh run --demo

# The same night with the models built on a local Spark (CARTWH_ENGINE=spark, docs/scaling.md "Spark").
spark-run: $(SPARK_STAMP) $(MANIFEST)
	CARTWH_ENGINE=spark $(SPARK_VENV)/bin/cartwh run

# The suite runs on every core (pytest-xdist; PYTEST_WORKERS=1 for one process): tests are
# independent; what several need is built once per session (tests/session_builds.py), the shared
# cohorts side by side as the workers start; an idle worker takes tests queued for another (worksteal).
PYTEST_WORKERS ?= auto

# Everything but the tests that build on Spark (marked spark: `make test-spark`).
test: $(STAMP) $(MANIFEST)
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal -m "not spark"

# Everything but the end-to-end tests (tests/e2e/, marked e2e by their folder: the whole main job,
# a rebuild, a dbt build): the lane to run while working; CI runs `make test`.
test-fast: $(STAMP) $(MANIFEST)
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal -m "not e2e and not spark"

# The tests that build on Spark (the demo's night on Spark against DuckDB's, the dispatch macros on
# Spark), in one process: Spark runs local[2] itself. CI runs it after `make test`.
test-spark: $(SPARK_STAMP) $(MANIFEST)
	$(SPARK_VENV)/bin/python -m pytest -q -n 0 -m spark

# The JSON schemas of analyses.yml and the suite files (docs/schemas/), from the models that read
# them: after changing one (tests/unit/project/test_schemas.py fails while they differ).
schemas: $(STAMP)
	$(PY) -m tests.unit.project.test_schemas

# ruff over the Python (lint rules and the formatter's style in pyproject.toml), sqlfluff over the dbt models through the dbt
# templater (rules in .sqlfluff); dbt compiles against an in-memory DuckDB, not the warehouse.
lint: $(STAMP) $(MANIFEST)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	CARTWH_WAREHOUSE=:memory: $(VENV)/bin/sqlfluff lint dbt_project/models dbt_project/tests

# Registries of 24, 1,000, 10,000 and 100,000 patients: a full build from nothing, then an
# incremental night with 1 % new samples (BENCH_SIZES to choose, BENCH_DIR for where, default
# data/bench); prints tables and writes docs/benchmarks.csv, .md and .png (a subset of sizes:
# the same files in BENCH_DIR, so the committed full-size figures stay). BENCH_ENGINES=duckdb,spark
# runs each size on Spark local[2] too (installing the spark extra first; figures in BENCH_DIR).
bench: $(STAMP) $(MANIFEST) $(if $(findstring spark,$(BENCH_ENGINES)),$(SPARK_STAMP))
	$(if $(findstring spark,$(BENCH_ENGINES)),$(SPARK_VENV)/bin/python,$(PY)) -m bench.benchmark

status: $(STAMP)
	$(VENV)/bin/cartwh status

# The Dagster webserver and daemon, so the nightly schedule and the landing sensor fire.
serve: $(STAMP) $(MANIFEST)  ## http://127.0.0.1:3000; DAGSTER_HOME in the data folder
	# umask 077: Dagster's storage, event logs and the runs it starts are the pipeline account's only
	umask 077 && mkdir -p $(DAGSTER_HOME) && chmod 700 $(DAGSTER_HOME) && cp orchestration/dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	# PATH: `dagster dev` re-parses the dbt project with the `dbt` it finds on PATH
	umask 077 && PATH=$(CURDIR)/$(VENV)/bin:$$PATH DAGSTER_HOME=$(DAGSTER_HOME) $(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# One static file (manifest and catalog inside), so it opens from disk with no server and no network.
docs: $(STAMP) $(MANIFEST)  ## the dbt docs site: the analysts' data dictionary
	cd dbt_project && CARTWH_WAREHOUSE=$(or $(CARTWH_WAREHOUSE),$(or $(CARTWH_DATA),$(CURDIR)/data)/warehouse.duckdb) \
		../$(VENV)/bin/dbt docs generate --static --profiles-dir . --quiet
	@echo "dbt docs (one file, opens offline in a browser): $(CURDIR)/dbt_project/target/static_index.html"

# The spark extra is pinned apart, in requirements-spark.lock (by hand: its packages and their new dependencies).
lock:  ## after editing dependencies: re-resolve and pin them
	$(VENV)/bin/pip install --quiet -e '.[test]'
	$(VENV)/bin/pip freeze --exclude-editable > requirements.lock

clean:
	rm -rf data/warehouse.duckdb data/warehouse.duckdb.wal data/archive data/spark

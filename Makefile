# Two commands on a fresh machine: `make run` and `make test`. Both create .venv first.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print)

DAGSTER_HOME ?= $(or $(CARTWH_DATA),$(CURDIR)/data)/dagster_home

.PHONY: install run test test-fast lint bench status serve docs lock clean

$(STAMP): requirements.lock pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP) $(MANIFEST)

# The dbt manifest is prepared at build time, so nothing parses dbt when Dagster imports; with the
# warehouse and memory settings `make run` gives dbt (cartwh.settings), so a night's `dbt build`
# reuses the parse (dbt parses again when its profile differs: another data folder parses once).
$(MANIFEST): $(STAMP) $(DBT_SOURCES)
	cd dbt_project && CARTWH_WAREHOUSE=$(or $(CARTWH_WAREHOUSE),$(or $(CARTWH_DATA),$(CURDIR)/data)/warehouse.duckdb) \
		CARTWH_DUCKDB_MEMORY=$(or $(CARTWH_DUCKDB_MEMORY),4GB) ../$(VENV)/bin/dbt parse --profiles-dir . --quiet

run: $(STAMP) $(MANIFEST)  ## ingest whatever landed (the demo cohort if nothing did) and print where it is
	$(VENV)/bin/cartwh run

# The suite runs on every core (pytest-xdist; PYTEST_WORKERS=1 for one process): tests are
# independent, and each worker builds the session's demo and faults warehouses it needs once.
PYTEST_WORKERS ?= auto

test: $(STAMP) $(MANIFEST)
	$(PY) -m pytest -q -n $(PYTEST_WORKERS)

# Everything but the end-to-end tests (marked e2e: the whole main job, a rebuild, a dbt build):
# the lane to run while working; CI runs `make test`.
test-fast: $(STAMP) $(MANIFEST)
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) -m "not e2e"

# ruff over the Python (lint rules and the formatter's style in pyproject.toml), sqlfluff over the dbt models through the dbt
# templater (rules in .sqlfluff); dbt compiles against an in-memory DuckDB, not the warehouse.
lint: $(STAMP) $(MANIFEST)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	CARTWH_WAREHOUSE=:memory: $(VENV)/bin/sqlfluff lint dbt_project/models dbt_project/tests

# Registries of 24, 1,000, 10,000 and 100,000 patients: a full build from nothing, then an
# incremental night with 1 % new samples (BENCH_SIZES to choose, BENCH_DIR for where, default
# data/bench); prints tables and writes docs/benchmarks.csv, .md and .png (a subset of sizes:
# the same files in BENCH_DIR, so the committed full-size figures stay).
bench: $(STAMP) $(MANIFEST)
	$(PY) -m cartwh.benchmark

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

lock:  ## after editing dependencies: re-resolve and pin them
	$(VENV)/bin/pip install --quiet -e '.[test]'
	$(VENV)/bin/pip freeze --exclude-editable > requirements.lock

clean:
	rm -rf data/warehouse.duckdb data/warehouse.duckdb.wal data/archive

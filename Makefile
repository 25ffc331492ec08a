# Two commands on a fresh machine: `make run` and `make test`. Both create .venv first.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test status dagster lock clean

$(STAMP): requirements.lock pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## ingest whatever landed (the demo cohort if nothing did) and print where it is
	$(VENV)/bin/cartwh run

test: $(STAMP)
	$(PY) -m pytest -q

status: $(STAMP)
	$(VENV)/bin/cartwh status

dagster: $(STAMP)  ## the Dagster UI on http://127.0.0.1:3000
	$(VENV)/bin/dagster dev -w workspace.yaml

lock:  ## after editing dependencies: re-resolve and pin them
	$(VENV)/bin/pip install --quiet -e '.[test]'
	$(VENV)/bin/pip freeze --exclude-editable > requirements.lock

clean:
	rm -rf data/warehouse.duckdb data/warehouse.duckdb.wal data/archive

# The two commands: `make demo` runs the main job, `make test` runs the tests.
# Each does its own set-up (scripts/setup.sh) and is safe to run again.
SHELL := /bin/bash
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast test-e2e lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m maintenance_ops.demo

test: setup
	@bash scripts/services.sh
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

test-fast: setup
	@bash scripts/services.sh
	$(PY) -m pytest -n 2 -m "not e2e" $(PYTEST_ARGS)

# The real-stack tests alone (Celery stack, UI, fleet, deadline alerts).
test-e2e: setup
	@bash scripts/services.sh
	$(PY) -m pytest -n 2 -m e2e $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check plugins dags tests bench include/recovery
	.venv/bin/mypy plugins/maintenance_ops include/recovery

bench: setup
	$(PY) bench/parse_time.py

clean:
	rm -rf .airflow .demo .pytest_cache

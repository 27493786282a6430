# The two commands a new user needs: `make demo` (the main job) and `make test` (the whole suite).
# Both create .venv from the lock file on first use; nothing else needs installing by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
# uv trusts the system's certificate store (as pip does), so a proxy's trust root works too.
export UV_SYSTEM_CERTS := 1
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install demo test lint bench airflow stack-down clean checkov pre-commit docs

install: $(VENV)/.installed

$(VENV)/.installed: requirements/dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	# Compiled up front: with PYTHONDONTWRITEBYTECODE set (as on these machines) every dbt and
	# Airflow process would otherwise compile its imports again (dbt start-up 6.2 s -> 2.9 s).
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements/dev.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --config-settings editable_mode=compat -e .
	# dbt's manifest, which the DAGs render their Cosmos tasks from (no dbt parse when Airflow
	# first parses them; a DAG parse makes it again only after the dbt project changed).
	$(BIN)/python -m pipeline.airflow.manifest
	touch $@

demo: install
	$(BIN)/python -m pipeline.cli.demo

test:
	# System packages the suite needs (podman for the container test, Chromium for the browser
	# tests), installed as root while the Python environment installs beside them (on a new
	# machine each takes 20-40 s: side by side, the suite starts about half a minute sooner).
	bash devstack/system-deps.sh & deps=$$!; \
	$(MAKE) --no-print-directory install; installed=$$?; \
	wait $$deps && exit $$installed
	$(BIN)/ruff check .
	# Three workers on the two cores (the Airflow tests spend much of their time waiting on
	# Airflow); tests/conftest.py's scheduler groups the tests (a folder with heavy shared state
	# runs whole on one worker, every other file is a unit).
	# The twenty slowest tests are listed at the end (CONTRIBUTING.md keeps the table).
	$(BIN)/python -m pytest -n 3 --durations=20

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Every hook of .pre-commit-config.yaml on every file. sqlfluff's dbt templater connects to
# PostgreSQL: the local stack's (started if needed) unless DATABASE_URL points elsewhere.
pre-commit: install
	@if [ -z "$${DATABASE_URL:-}" ]; then \
		$(BIN)/adtech stack up >/dev/null 2>&1 && eval "$$($(BIN)/adtech stack env)"; \
	fi; $(BIN)/pre-commit run --all-files

# dbt's documentation (every model, column and source, the lineage graph, the API exposure),
# generated from the project and the database's catalog, then served on 127.0.0.1:$(DOCS_PORT)
# until Ctrl-C (Airflow's UI has 8080 and the API 8000). It connects to PostgreSQL like
# pre-commit: the local stack's (started if needed) unless DATABASE_URL points elsewhere.
DOCS_PORT ?= 8580
docs: install
	@if [ -z "$${DATABASE_URL:-}" ]; then \
		$(BIN)/adtech stack up --no-airflow >/dev/null 2>&1 && eval "$$($(BIN)/adtech stack env)"; \
	fi; $(BIN)/dbt docs generate && \
	$(BIN)/dbt docs serve --host 127.0.0.1 --port $(DOCS_PORT) --no-browser

bench: install
	$(BIN)/python -m bench

airflow: install
	$(BIN)/python -m pipeline.airflow.local

# checkov (deploy/aws template lint) pins its dependencies tightly: its own venv, from its lock.
CHECKOV_VENV := .tools/checkov
checkov: $(CHECKOV_VENV)/.installed

$(CHECKOV_VENV)/.installed: deploy/aws/lint-tools.txt | $(VENV)/.installed
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(BIN)/uv pip sync --quiet --python $(CHECKOV_VENV)/bin/python deploy/aws/lint-tools.txt
	touch $@

stack-down: install
	$(BIN)/adtech stack down

# --delete: as root the cluster may live outside .stack (/var/lib/adtech-devstack; README).
clean: install
	$(BIN)/adtech stack down --delete
	rm -rf $(VENV) .tools .stack target logs

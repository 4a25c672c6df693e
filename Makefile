# livechat: the two set-up commands are `make run` and `make test`; see README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export REDIS_PORT ?= 6379
export KAFKA_PORT ?= 9092
export PROMETHEUS_PORT ?= 9090

.PHONY: run test lint typecheck docs pytest services services-stop ingest bench tools clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The runtime install is the same `pip install -c constraints.txt .` the Dockerfile runs
# (editable here); constraints.txt pins the libraries app/websocket.py reaches into.
$(VENV)/.installed-run: pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@ $(VENV)/.installed-run

## make run: the chat server on http://$(HOST):$(PORT), embedded mode unless REDIS_URL is set.
run: $(VENV)/.installed-run
	$(VENV)/bin/gunicorn --config python:app.gunicorn_conf 'app:create_app()'

## make test: install everything the tests need, start services, lint, type-check, test, stop.
test: tools $(VENV)/.installed-dev lint typecheck
	.ci/test.sh

tools:
	.ci/install-tools.sh

# The docs build is strict: a broken link, a missing page or anchor fails `make test`.
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir .tools/docs-site 2>&1 | grep -v "^INFO" ; exit $${PIPESTATUS[0]}

## make docs: the documentation site into site/ (`.venv/bin/mkdocs serve` while editing).
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

typecheck: $(VENV)/.installed-dev
	$(VENV)/bin/mypy

pytest: $(VENV)/.installed-dev
	.ci/test.sh

services:
	.ci/services.sh start

services-stop:
	.ci/services.sh stop

## make ingest: one Twitch ingest process configured from the environment (and env.env).
ingest: $(VENV)/.installed-run
	$(PY) -m ingest --env-file env.env

## make bench: benchmarks and their table; never part of `make test`.
bench: tools $(VENV)/.installed-dev
	$(PY) -m bench

clean:
	rm -rf $(VENV) .tools/run .tools/docs-site site .pytest_cache .mypy_cache .ruff_cache

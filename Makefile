# cwatch — the two commands are `make demo` and `make test`; the rest are their parts.
PY    ?= python3
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help install system-deps demo serve test lint typecheck unit bench schemas apidoc clean

help:
	@echo "make demo   - install and run cwatch on embedded defaults with the simulator feeding it"
	@echo "make test   - install what is missing and run lint, type checks and every test"
	@echo "make bench  - run the benchmarks under bench/"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

system-deps:
	@bash deploy/install-system-deps.sh

demo: install
	$(BIN)/cwatch demo

serve: install
	$(BIN)/cwatch serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q -m "not slow and not browser" $(PYTEST_ARGS)

test: install system-deps lint typecheck
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: install system-deps
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.rules
	$(BIN)/python -m bench.care
	$(BIN)/python -m bench.care.bounds
	$(BIN)/python -m bench.notify
	$(BIN)/python -m bench.reports
	$(BIN)/python -m bench.board
	$(BIN)/python -m bench.latency

schemas: install
	$(BIN)/cwatch schemas docs/schemas

apidoc: install
	$(BIN)/python -m cwatch.apidoc docs/api.md

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache

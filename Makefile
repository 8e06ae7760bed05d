# Each target creates or reuses .venv, installs torch==2.13.0 first (the CPU wheel on disk;
# plain `torch` would pull gigabytes of CUDA), then the package with what the target needs.
# Stamp files make a second run install nothing.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP)-torch: | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	touch $@

$(STAMP)-base: pyproject.toml $(STAMP)-torch
	$(BIN)/pip install -q -e .
	touch $@

$(STAMP)-test: pyproject.toml $(STAMP)-base
	$(BIN)/pip install -q -e '.[test]'
	touch $@

$(STAMP)-bench: pyproject.toml $(STAMP)-test
	$(BIN)/pip install -q -e '.[bench]'
	touch $@

demo: $(STAMP)-base
	$(BIN)/edgelab demo

test: $(STAMP)-test
	$(BIN)/python -m pytest

lint: $(STAMP)-test
	$(BIN)/ruff check src tests benchmarks scripts && $(BIN)/ruff format --check src tests benchmarks scripts

bench: $(STAMP)-bench
	@echo "benchmarks: each script in benchmarks/ prints its figures; the commands and results are in benchmarks/RESULTS.md"

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

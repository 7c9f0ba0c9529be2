# Two entry points: `make synth` and `make test`. Both set up everything they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# The CDK CLI works offline: no telemetry, no version check (notices: --no-notices).
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: setup synth test test-fast lint docs benchmark clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

setup: $(BIN)/.installed node_modules/.installed

synth: setup
	cdk synth --no-notices --quiet

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# The inner loop: ruff, and every test but the slow ones (deploy rehearsal, CLI synth, wheels).
test-fast: setup
	$(BIN)/ruff check .
	$(BIN)/pytest -m "not slow"

# Synthesis time, memory and policy sizes from 1 to 1,000 buckets and 1 to 20 accounts.
benchmark: setup
	$(BIN)/python benchmarks/synth_benchmark.py

# API reference from the docstrings of the package and every module under it, into site/
# pdoc alone follows the package's __all__, which names classes, not modules: walk them all.
MODULES = $(shell $(BIN)/python -c 'import pkgutil, constructs_lib as p; print(p.__name__, *(m.name for m in pkgutil.walk_packages(p.__path__, p.__name__ + ".")))')
docs: setup
	PDOC_ALLOW_EXEC=1 $(BIN)/pdoc --output-directory site $(MODULES)

clean:
	rm -rf $(VENV) node_modules cdk.out site dist

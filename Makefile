# Nongshu: the two commands are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= data
REGION ?= dingxi
SIZE   ?= 512
SEASONS ?= 6
SEASON ?= 2026
SEED   ?= 42
HOST   ?= 127.0.0.1
PORT   ?= 5000
INPUTS := $(DATA)/inputs/$(REGION)
OUTPUTS := $(DATA)/outputs/$(REGION)
PYTEST_ARGS ?=

.PHONY: demo test bench bench-quick lint typecheck serve clean-data clean venv

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Nongshu needs Python >= 3.11, this is " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@touch $@

# Re-install only when pyproject.toml changed since the last install of that flavour.
$(VENV)/.installed-base: pyproject.toml $(VENV)/.python-ok
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.python-ok
	$(BIN)/python -m pip install --quiet -e ".[test,postgres]"
	@touch $@ $(VENV)/.installed-base

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.python-ok
	$(BIN)/python -m pip install --quiet -e ".[test,bench,postgres]"
	@touch $@ $(VENV)/.installed-test $(VENV)/.installed-base

venv: $(VENV)/.installed-base

## demo: venv, demo region, season pipeline, demo trace chain, web app on http://$(HOST):$(PORT)
demo: $(VENV)/.installed-base
	$(BIN)/nongshu demo-data --region $(REGION) --size $(SIZE) --seasons $(SEASONS) --seed $(SEED) --out $(INPUTS)
	$(BIN)/nongshu run --inputs $(INPUTS) --season $(SEASON) --out $(OUTPUTS)
	NONGSHU_DATA_DIR=$(DATA) $(BIN)/nongshu trace demo --inputs $(INPUTS) --outputs $(OUTPUTS)
	NONGSHU_DATA_DIR=$(DATA) $(BIN)/nongshu serve --data $(DATA) --host $(HOST) --port $(PORT)

## test: venv with the test extras, services the tests need, then pytest
test: $(VENV)/.installed-test
	bash scripts/test-services.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## bench: every benchmark side by side (about 30 minutes on 2 cores)
bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks run --all

## bench-quick: a small version of every benchmark (a few minutes)
bench-quick: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks run --all --quick

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

clean-data:
	rm -rf $(DATA)

clean: clean-data
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

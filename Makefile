# Two commands on a fresh machine: `make run` and `make test`. Each sets itself up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench setup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,loadtest]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/fidelia serve --demo

test: $(STAMP)
	$(BIN)/ruff check fidelia collector profiles recommender sql loadtests tests
	$(BIN)/mypy
	$(BIN)/pytest

# Measurements recorded in docs/PERFORMANCE.md (several minutes; the largest builds 10M events).
bench: $(STAMP)
	$(BIN)/python -m loadtests.api_bench --rounds 3 --seconds 6
	$(BIN)/python -m loadtests.quality_eval --visitors 20000 --days 60 --seed 1
	$(BIN)/python -m loadtests.simulate_bench --visitors 100000 --days 30
	$(BIN)/python -m loadtests.profiles_bench --visitors 800000 --days 30 --repeat 5
	$(BIN)/python -m loadtests.collector_core_bench --seconds 20 --concurrency 32 --batch 5
	$(BIN)/python -m loadtests.buckets_bench --step 1000000 --steps 2 --buckets 16

lint: $(STAMP)
	$(BIN)/ruff check fidelia collector profiles recommender sql loadtests tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var test-output

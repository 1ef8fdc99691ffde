# Two commands on a fresh machine: `make run` and `make test`. Each sets itself up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench loadtest setup clean

USERS ?= 50
SPAWN ?= 10
DURATION ?= 30s

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

# Measurements recorded in docs/PERFORMANCE.md (about an hour: buckets_bench simulates 5M visitors, 64M events).
bench: $(STAMP)
	$(BIN)/python -m loadtests.collector_bench --rounds 3 --seconds 8 --rate 2000
	$(BIN)/python -m loadtests.api_bench --rounds 3 --seconds 6
	$(BIN)/python -m loadtests.quality_eval --visitors 20000 --days 60 --seed 1
	$(BIN)/python -m loadtests.simulate_bench --visitors 100000 --days 30
	$(BIN)/python -m loadtests.profiles_bench --visitors 800000 --days 30 --repeat 5
	$(BIN)/python -m loadtests.value_bench --customers 1000000 --repeat 3
	$(BIN)/python -m loadtests.value_backtest --visitors 20000 --days 150 --holdout 30 --seed 1
	$(BIN)/python -m loadtests.collector_core_bench --seconds 20 --concurrency 32 --batch 5
	$(BIN)/python -m loadtests.buckets_bench --step 1000000 --steps 5 --buckets auto --single-up-to 2000000

# Locust headless against a local server on a fresh embedded store (127.0.0.1 only, bounded
# time); HTML and CSV report in var/loadtest/. `make loadtest USERS=50 SPAWN=10 DURATION=30s`.
loadtest: $(STAMP)
	$(BIN)/python -m loadtests.run_loadtest --users $(USERS) --spawn-rate $(SPAWN) --duration $(DURATION) --out var/loadtest

lint: $(STAMP)
	$(BIN)/ruff check fidelia collector profiles recommender sql loadtests tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var test-output

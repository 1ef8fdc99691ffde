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

# Every benchmark of docs/PERFORMANCE.md (about an hour and a half: buckets_bench simulates 5M
# visitors, 64M events); loadtests/bench.py lists them and writes their results at the end of
# docs/PERFORMANCE.md. `make bench BENCH="collector_bench api_bench"` runs only those.
BENCH ?=
bench: $(STAMP)
	$(BIN)/python -m loadtests.bench $(BENCH)

# Locust headless against a local server on a fresh embedded store (127.0.0.1 only, bounded
# time); HTML and CSV report in var/loadtest/. `make loadtest USERS=50 SPAWN=10 DURATION=30s`.
loadtest: $(STAMP)
	$(BIN)/python -m loadtests.run_loadtest --users $(USERS) --spawn-rate $(SPAWN) --duration $(DURATION) --out var/loadtest

lint: $(STAMP)
	$(BIN)/ruff check fidelia collector profiles recommender sql loadtests tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var test-output

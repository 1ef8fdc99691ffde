# Two commands on a fresh machine: `make run` and `make test`. Each sets itself up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint setup clean

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

lint: $(STAMP)
	$(BIN)/ruff check fidelia collector profiles recommender sql loadtests tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var test-output

# The quick-start commands: `make demo` and `make test`; `make test-fast` and `make check` for developers.
# All set up .venv from pyproject.toml (and node_modules from package-lock.json: the front-end libraries the
# app serves itself) on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast check

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,pdf]"
	touch $@

# ruff and mypy, pinned in the dev extra
$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[test,pdf,dev]"
	touch $@

node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(VENV)/.installed node_modules/.installed
	$(BIN)/rectify demo

# every tier, fastest first: unit, application, projections, integrity, notice, sheets, cli, api, e2e, faults;
# one worker per core (pytest-xdist), each test still in its own store
test: $(VENV)/.installed node_modules/.installed
	$(BIN)/pytest -n auto

# the unit and application tests on SQLite only: seconds, for every save
test-fast: $(VENV)/.installed
	$(BIN)/pytest -m "not postgres" tests/unit tests/application

# lint, format and types (strict on domain/, projections/ and access.py); CI runs this before the tests
check: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

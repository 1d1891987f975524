# The two quick-start commands: `make demo` and `make test`. Both set up .venv from pyproject.toml
# (and node_modules from package-lock.json: the front-end libraries the app serves itself).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,pdf]"
	touch $@

node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(VENV)/.installed node_modules/.installed
	$(BIN)/rectify demo

test: $(VENV)/.installed node_modules/.installed
	$(BIN)/pytest

# closeloop: the two commands are `make demo` and `make test`; both set up first.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export RUNTIME__DLTHUB_TELEMETRY := false
export DAGSTER_DISABLE_TELEMETRY := 1
export SNOWFLAKE_DISABLE_PLATFORM_DETECTION := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup test-deps demo test test-fast lint bench bench-large lock clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found; closeloop needs Python 3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)
	@echo "closeloop installed: $(BIN)/closeloop"

demo: setup
	$(BIN)/closeloop run --scale small
	@echo
	@echo "Open the Dagster UI on this loop: $(BIN)/closeloop ui   (then http://127.0.0.1:3000)"

test: setup test-deps lint
	$(BIN)/python -m pytest -q

# The Dagster UI test drives Debian's headless Chromium; install it where we may (root, apt).
test-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the UI test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "note: chromium is not installed and cannot be here: the UI test will skip"; \
	  fi; }

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@# sqlfluff's dbt templater opens a connection: give it a scratch warehouse, not the user's
	lintdir=$$(mktemp -d) && cd dbt_project && CLOSELOOP_DUCKDB_PATH=$$lintdir/lint.duckdb \
	  ../$(BIN)/sqlfluff lint models tests --disable-progress-bar; rc=$$?; rm -rf $$lintdir; exit $$rc

bench: setup
	$(BIN)/python -m bench $(BENCH_ARGS)

# the whole cycle on `large` (over a million invoices), full then incremental: about an hour on
# two cores, and ~40 GB of disk (docs/benchmarks.md); BENCH_ARGS adds options, e.g.
# BENCH_ARGS="--only cycle" for the cycle alone
bench-large: setup
	$(BIN)/python -m bench --large $(BENCH_ARGS)

# Rebuild requirements.lock from pyproject.toml's pins in a throwaway venv.
lock:
	rm -rf /tmp/closeloop-lock && $(PY) -m venv /tmp/closeloop-lock
	/tmp/closeloop-lock/bin/pip install --quiet --upgrade "pip>=24"
	/tmp/closeloop-lock/bin/pip install --quiet ".[dev]"
	{ echo "# Generated from pyproject.toml's pins with: make lock (pip freeze of a fresh venv). Python 3.11."; \
	  /tmp/closeloop-lock/bin/pip freeze --exclude-editable | grep -v '^closeloop'; } > requirements.lock

clean:
	rm -rf $(VENV) .closeloop .pytest_cache .mypy_cache .ruff_cache

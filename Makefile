# The signal exchange. `make run` for a working broker with demo data, `make test` for
# the whole suite (lint, types, tests on SQLite and PostgreSQL). Both install what they need.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck pytest bench clean browser

run: $(STAMP)
	$(BIN)/exchange init
	$(BIN)/exchange demo
	$(BIN)/exchange serve

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) browser
	$(BIN)/pytest

# The browser tests drive Debian's Chromium through Playwright (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

bench: $(STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.policy_decisions
	$(BIN)/python -m bench.audit_log
	$(BIN)/python -m bench.audit_store
	$(BIN)/python -m bench.request_limits
	$(BIN)/python -m bench.audit_search

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

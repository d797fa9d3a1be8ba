# The signal exchange. `make run` for a working broker with demo data, `make test` for
# the whole suite (lint, types, tests on SQLite and PostgreSQL). Both install what they need.

PYTHON ?= python3
# The PostgreSQL server the benchmarks make their own databases on.
BENCH_POSTGRES ?= postgresql://postgres@127.0.0.1/postgres
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck pytest bench clean browser pdf node pgbouncer

run: $(STAMP) pdf
	$(BIN)/exchange init
	$(BIN)/exchange demo
	$(BIN)/exchange serve

test: lint typecheck pytest

# The OpenAPI document, checked by two independent tools: openapi-spec-validator (the
# OpenAPI 3.1 schema) and Redocly's linter (pinned; fetched from npm by npx on first use).
REDOCLY := @redocly/cli@2.77.0

lint: $(STAMP) node
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	@mkdir -p var
	$(BIN)/exchange openapi --output var/openapi.json
	$(BIN)/openapi-spec-validator var/openapi.json
	npx --yes $(REDOCLY) lint --config redocly.yaml var/openapi.json

# Node.js for npx (Redocly's linter), from Debian where the machine has none.
node:
	@command -v npx >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) browser pdf pgbouncer node
	$(BIN)/pytest

# The browser tests drive Debian's Chromium through Playwright (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# PgBouncer in transaction pooling mode, as deploy/ runs it, in front of the test server
# (tests/test_pgbouncer.py); Debian's, not started as a service.
pgbouncer:
	@{ command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; } || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq pgbouncer >/dev/null; }

# The access letter's PDF (WeasyPrint) uses the system's pango and harfbuzz and the DejaVu
# fonts; harfbuzz's font subsetter is a package of its own, which WeasyPrint warns it will
# require (it falls back to fontTools today).
pdf:
	@{ ldconfig -p | grep -q 'libpango-1.0.so.0' && ldconfig -p | grep -q 'libharfbuzz-subset.so.0' \
		&& fc-list | grep -qi dejavu; } || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
			libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core >/dev/null; }

bench: $(STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.policy_decisions
	$(BIN)/python -m bench.audit_log
	$(BIN)/python -m bench.audit_store
	$(BIN)/python -m bench.request_limits
	$(BIN)/python -m bench.audit_search
	$(BIN)/python -m bench.access_report
	$(BIN)/python -m bench.queue
	$(BIN)/python -m bench.queue --database-url $(BENCH_POSTGRES)
	$(BIN)/python -m bench.backends --database-url $(BENCH_POSTGRES)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

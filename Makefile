# pgkeel -- the two commands that matter are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
PORT   ?= 8000
# pytest processes for `make test` (each has its own database, roles and Redis prefix).
TEST_WORKERS ?= 2
export PORT

.DEFAULT_GOAL := help
.PHONY: help install demo test lint typecheck pytest test-embedded bench bench-quick clean

help:  ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "pgkeel needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,embedded,nats,rabbitmq,otel]'
	@touch $@

install: $(STAMP)  ## Create .venv and install pgkeel with its dev, embedded and broker extras

demo: $(STAMP)  ## Serve the reference service on http://127.0.0.1:$PORT (embedded servers unless DATABASE_URL/REDIS_URL)
	$(BIN)/python -m pgkeel_apps

lint: $(STAMP)  ## ruff
	$(BIN)/ruff check src tests

typecheck: $(STAMP)  ## mypy --strict on src/
	$(BIN)/mypy

pytest: $(STAMP)  ## The whole pytest suite against the configured (or embedded) servers
	$(BIN)/pytest -q -n $(TEST_WORKERS)

# With DATABASE_URL set, the suite above ran on those servers; this runs the smoke subset on
# the embedded PostgreSQL 18 + Valkey 8 as well, so both paths are exercised every time.
test-embedded: $(STAMP)  ## The smoke subset against embedded servers (URLs unset)
	env -u DATABASE_URL -u REDIS_URL $(BIN)/pytest -q -m smoke

test: lint typecheck pytest  ## ruff + mypy + the whole suite (+ the embedded smoke run when URLs are set) + bench-quick
	@if [ -n "$$DATABASE_URL" ] || [ -n "$$REDIS_URL" ]; then $(MAKE) --no-print-directory test-embedded; fi
	@$(MAKE) --no-print-directory bench-quick

# The bench extra (asyncpg, SQLAlchemy, fastapi-pagination, aiohttp, pyinstrument) has a stamp
# of its own, so `make test`'s own install stays as it is.
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,embedded,nats,rabbitmq,otel,bench]'
	@touch $@

bench: $(BENCH_STAMP)  ## The full benchmark (1,000,000 users): bench/results/<time>.json + a table in bench/README.md
	$(BIN)/python -m bench

bench-quick: $(BENCH_STAMP)  ## A short run (small data set) that checks the harness works; asserts no timings
	$(BIN)/python -m bench --quick --no-progress

clean:  ## Remove the virtualenv and caches (keeps .pgkeel data)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Racesense: `make run` starts the main job, `make test` runs every test.
# Both install what they need themselves (a venv in .venv) and are idempotent.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit jstest ui chromium dist postgresql bench clean deploy

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq python3-venv python3-pip >/dev/null && \
	    rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	  else echo "python3 -m venv failed: install python3-venv" >&2; exit 1; fi; }

# Reinstalled when a kernel changes too: the install compiles them (setup.py).
$(STAMP): pyproject.toml setup.py $(wildcard src/racesense/analysis/kernels/*.pyx) | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP) ui
	$(BIN)/racesense serve --demo --data-dir data

# The web UI (ui/): npm packages from the registry, bundled by esbuild into the Python
# package (src/racesense/web/ui_dist), rebuilt when a source changes. Node.js and npm
# come from Debian when missing and we are root.
UI_DIST := src/racesense/web/ui_dist/index.html
UI_MODULES := ui/node_modules/.installed
UI_SOURCES := $(shell find ui/src -type f 2>/dev/null) ui/build.mjs ui/icons.mjs

$(UI_MODULES): ui/package.json ui/package-lock.json
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else echo "npm not found: install Node.js and npm to build the UI" >&2; exit 1; fi; }
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(UI_DIST): $(UI_MODULES) $(UI_SOURCES)
	cd ui && node build.mjs

ui: $(UI_DIST)

jstest: $(UI_MODULES)
	cd ui && node --test test/

# Debian's Chromium for the browser tests (tests/browser), never Playwright's download.
# Installed here if missing and we are root; otherwise those tests skip and say why.
chromium:
	@command -v chromium >/dev/null && command -v certutil >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium libnss3-tools fonts-dejavu-core >/dev/null; \
	  else echo "chromium or certutil not installed: the browser tests will skip" >&2; fi; }

# A wheel with the UI built in: installs and serves with no Node.
dist: $(STAMP) ui
	rm -rf dist && $(BIN)/python -m pip wheel --no-deps -w dist .

lint: $(STAMP)
	$(BIN)/ruff check src tests bench firmware
	$(BIN)/ruff format --check src tests bench firmware

typecheck: $(STAMP)
	$(BIN)/mypy

# The store/API tests also run on PostgreSQL 15: tests/pg.py starts a throwaway cluster from
# Debian's binaries (as the `postgres` user when root) and removes it afterwards. Installed
# here if missing and we are root (Debian's package starts a cluster of its own: stopped);
# otherwise those tests skip and say why.
PG_INITDB := /usr/lib/postgresql/15/bin/initdb

postgresql:
	@test -x $(PG_INITDB) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends postgresql-15 >/dev/null && \
	    { pg_ctlcluster 15 main stop >/dev/null 2>&1 || true; }; \
	  else echo "PostgreSQL 15 not installed ($(PG_INITDB)): its tests will skip" >&2; fi; }

unit: $(STAMP) postgresql ui chromium
	$(BIN)/python -m pytest -n 2 -q

test: lint typecheck jstest unit

bench: $(STAMP) ui chromium
	$(BIN)/python bench/bench_cli.py
	$(BIN)/python bench/bench_analysis.py
	$(BIN)/python bench/bench_accuracy.py
	$(BIN)/python bench/bench_server.py
	$(BIN)/python bench/bench_ui.py
	$(BIN)/python bench/bench_fieldtest.py

# Copy the firmware to an RS-Core board over USB serial: make deploy PORT=/dev/ttyUSB0
# (firmware/*.py incl. main.py and rs_protocol.py to the board's root, firmware/board/*.py
# to :board/), then reset the board so main.py starts. Tests and tools stay on the host.
PORT ?= /dev/ttyUSB0
MPREMOTE = $(BIN)/mpremote connect $(PORT)

deploy: $(STAMP)
	@test -e $(PORT) || { echo "no board at PORT=$(PORT)" >&2; exit 1; }
	$(MPREMOTE) exec "import os; 'board' in os.listdir() or os.mkdir('board')" \
	  + fs cp $(sort $(wildcard firmware/*.py) firmware/rs_protocol.py) : \
	  + fs cp $(wildcard firmware/board/*.py) :board/ \
	  + reset

clean:
	rm -rf $(VENV) build dist src/*.egg-info src/racesense/web/ui_dist ui/node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis

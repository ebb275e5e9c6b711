# meshkeys
#   make run    create .venv, install, migrate the SQLite database, serve http://localhost:3000
#   make run-prod  migrate as the owner, preflight, then WORKERS granian workers on PostgreSQL
#               and Redis (docs/DEPLOY.md)
#   make test   install dev extras, check Chromium, PostgreSQL, Redis, nginx; format, lint, mypy,
#               unit, integration, security, coverage, cluster, e2e (each a process: .ci/rings)
#   make bench  every benchmark of bench/, bounded, non-zero on a missed target (not in make test)
#   make lint | test-unit | test-integration | test-security | test-cluster | test-e2e | clean |
#               distclean | help

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PORT ?= 3000
# run-prod: the address and worker count of the app server (put a TLS proxy in front of it).
HOST ?= 127.0.0.1
WORKERS ?= 3
REDIS_SERVER := $(or $(MESHKEYS_REDIS_SERVER),/usr/bin/redis-server)
NGINX := $(or $(MESHKEYS_NGINX),/usr/sbin/nginx)
CHROMIUM := $(or $(MESHKEYS_CHROMIUM),/usr/bin/chromium)
PG_BINDIR := $(or $(MESHKEYS_PG_BINDIR),/usr/lib/postgresql/15/bin)
# apt-get needs root: use sudo (non-interactively) when we are not root and it exists.
SUDO := $(if $(filter 0,$(shell id -u)),,$(shell command -v sudo >/dev/null 2>&1 && echo sudo -n))

# The Reflex environment (npm instead of bun, no version check, no telemetry, node from the venv
# first on PATH) is not spelled here: every `reflex` command imports rxconfig.py, which applies
# meshkeys/reflex_env.py.
export PIP_DISABLE_PIP_VERSION_CHECK := 1

STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: help venv install install-dev run run-prod lint test test-unit test-integration \
	test-security bench \
	test-cluster test-e2e check-chromium check-postgres check-redis check-nginx clean distclean

help:
	@sed -n '2,9p' Makefile | sed 's/^# \{0,1\}//'

# ---------------------------------------------------------------------------------------- venv

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "error: $(PYTHON) not found: install Python 3.11 (Debian: apt-get install python3.11" \
	       "python3.11-venv), or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

venv: $(BIN)/python

# Stamps: re-install only when pyproject.toml or constraints.txt changes. constraints.txt pins
# every package, the transitive ones too (docs/DEPENDENCIES.md).
$(STAMP_RUN): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -c constraints.txt -e .
	@touch $@

$(STAMP_DEV): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -c constraints.txt -e '.[dev]'
	@touch $@ $(STAMP_RUN)

install: $(STAMP_RUN)

install-dev: $(STAMP_DEV)

# ----------------------------------------------------------------------------------------- run

run: $(STAMP_RUN)
	$(BIN)/meshkeys db upgrade
	@echo "meshkeys: starting on http://localhost:$(PORT) (frontend, websocket and API on one port)"
	exec $(BIN)/reflex run --env prod --single-port --frontend-port $(PORT) --backend-port $(PORT)

# Production (docs/DEPLOY.md): the owner migrates (MESHKEYS_MIGRATION_DATABASE_URL), the preflight
# refuses a start that would half-start (master key, runtime role, Redis), then `reflex run` serves
# WORKERS granian workers (GRANIAN_WORKERS) as the runtime role (MESHKEYS_DATABASE_URL).
run-prod: $(STAMP_RUN)
	@[ -n "$${MESHKEYS_MIGRATION_DATABASE_URL:-}" ] || { echo "meshkeys will not start:" \
	  "MESHKEYS_MIGRATION_DATABASE_URL is not set: name the role that owns the tables" \
	  "(migrations run as it; the app runs as MESHKEYS_DATABASE_URL)"; exit 1; }
	MESHKEYS_ENV=production $(BIN)/meshkeys db upgrade
	MESHKEYS_ENV=production $(BIN)/meshkeys preflight
	@echo "meshkeys: $(WORKERS) workers on http://$(HOST):$(PORT) (frontend, websocket and API)"
	MESHKEYS_ENV=production GRANIAN_WORKERS=$(WORKERS) exec $(BIN)/reflex run --env prod \
	  --single-port --frontend-port $(PORT) --backend-port $(PORT) --backend-host $(HOST)

# ---------------------------------------------------------------------------------------- test

# The same three steps as the pre-commit hooks (.pre-commit-config.yaml).
lint: $(STAMP_DEV)
	.ci/rings format lint mypy

test: $(STAMP_DEV) check-chromium check-postgres check-redis check-nginx
	.ci/rings format lint mypy unit integration security coverage cluster e2e

test-unit: $(STAMP_DEV)
	.ci/rings unit

test-integration: $(STAMP_DEV) check-postgres check-redis
	.ci/rings integration

test-security: $(STAMP_DEV) check-postgres
	.ci/rings security

test-e2e: $(STAMP_DEV) check-chromium
	.ci/rings e2e

test-cluster: $(STAMP_DEV) check-chromium check-postgres check-redis check-nginx
	.ci/rings cluster

# ---------------------------------------------------------------------------------------- bench

# Every benchmark of bench/, each bounded by a timeout, each printing its ratios; the whole
# exits non-zero when any target is missed (or a script fails). Not part of `make test`.
# docs/PERFORMANCE.md holds the figures. BENCH_TIMEOUT bounds one script and BENCH_TOTAL the
# whole (seconds): a script gets what is left of the total when that is less, a script cut off
# counts as a miss, and one with no time left is not started (also a miss).
BENCH_TIMEOUT ?= 300
BENCH_TOTAL ?= 1800
BENCHES := verify.py seed.py load.py api_latency.py scale.py audit_verify.py audit_export.py ui_latency.py

bench: $(STAMP_DEV) check-postgres
	@test -x /usr/bin/wrk || { echo "error: /usr/bin/wrk is missing: apt-get install wrk"; exit 1; }
	@failed=""; deadline=$$(( $$(date +%s) + $(BENCH_TOTAL) )); for script in $(BENCHES); do \
	  left=$$(( deadline - $$(date +%s) )); \
	  if [ $$left -le 0 ]; then \
	    echo "==> bench/$$script: not started, the $(BENCH_TOTAL) s of BENCH_TOTAL are spent"; \
	    failed="$$failed $$script"; continue; \
	  fi; \
	  limit=$(BENCH_TIMEOUT); [ $$left -lt $$limit ] && limit=$$left; \
	  echo "==> bench/$$script ($$(date -u +%H:%M:%S), load $$(cut -d' ' -f1-3 /proc/loadavg), at most $$limit s)"; \
	  timeout $$limit $(BIN)/python bench/$$script || failed="$$failed $$script"; \
	done; \
	if [ -n "$$failed" ]; then echo "==> bench: missed or failed:$$failed"; exit 1; fi; \
	echo "==> bench: every target met"

check-chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "$(CHROMIUM) not found: installing Debian's chromium package"; \
	    $(SUDO) apt-get update && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	      chromium || { echo "error: installing chromium failed: install Debian's chromium" \
	                         "package (apt-get install chromium) and run make test again"; exit 1; }; \
	  fi; \
	fi
	@[ -x "$(CHROMIUM)" ] || { echo "error: $(CHROMIUM) not found: end-to-end tests need" \
	  "Chromium; install Debian's chromium package (apt-get install chromium)"; exit 1; }

check-postgres:
	@if [ -n "$${MESHKEYS_TEST_DATABASE_URL:-}" ]; then \
	  echo "PostgreSQL: using MESHKEYS_TEST_DATABASE_URL (a throwaway database and role on it)"; \
	elif [ ! -x "$(PG_BINDIR)/initdb" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "$(PG_BINDIR)/initdb not found: installing postgresql-15"; \
	    $(SUDO) apt-get update && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	      postgresql-15 || { echo "error: installing postgresql-15 failed: install it" \
	                              "(apt-get install postgresql-15), or set" \
	                              "MESHKEYS_TEST_DATABASE_URL to a PostgreSQL server"; exit 1; }; \
	  fi; \
	  [ -x "$(PG_BINDIR)/initdb" ] || { echo "error: $(PG_BINDIR)/initdb not found: install" \
	    "postgresql-15 (apt-get install postgresql-15), or set MESHKEYS_TEST_DATABASE_URL to" \
	    "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB (a role that may create roles and" \
	    "databases)"; exit 1; }; \
	fi

# Debian's redis-server (the tests start their own, without persistence; tests/redisserver.py)
# and nginx (the TLS proxy of the e2e ring; deploy/nginx.conf).
check-redis:
	@if [ -n "$${MESHKEYS_TEST_REDIS_URL:-}" ]; then \
	  echo "Redis: using MESHKEYS_TEST_REDIS_URL (the tests flush its database)"; \
	elif [ ! -x "$(REDIS_SERVER)" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "$(REDIS_SERVER) not found: installing Debian's redis-server package"; \
	    $(SUDO) apt-get update && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	      redis-server || { echo "error: installing redis-server failed: install it" \
	                             "(apt-get install redis-server), or set MESHKEYS_TEST_REDIS_URL" \
	                             "to a Redis the tests may flush"; exit 1; }; \
	  fi; \
	  [ -x "$(REDIS_SERVER)" ] || { echo "error: $(REDIS_SERVER) not found: install Debian's" \
	    "redis-server package (apt-get install redis-server), or set MESHKEYS_TEST_REDIS_URL"; \
	    exit 1; }; \
	fi

check-nginx:
	@if [ ! -x "$(NGINX)" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "$(NGINX) not found: installing Debian's nginx package"; \
	    $(SUDO) apt-get update && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	      nginx || { echo "error: installing nginx failed: install Debian's nginx package" \
	                       "(apt-get install nginx) and run make test again"; exit 1; }; \
	  fi; \
	fi
	@[ -x "$(NGINX)" ] || { echo "error: $(NGINX) not found: the TLS proxy tests need nginx;" \
	  "install Debian's nginx package (apt-get install nginx), or point MESHKEYS_NGINX at one"; \
	  exit 1; }

# --------------------------------------------------------------------------------------- clean

# Build and test leftovers. Never the database (*.db) nor the master key (.meshkeys/): without
# the key, the secrets in the database cannot be decrypted.
clean:
	rm -rf .web .states .pytest_cache .ruff_cache .mypy_cache .coverage-data build *.egg-info \
	  test-results
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
	rm -rf "$$($(or $(wildcard $(BIN)/python),python3) -c 'import hashlib, os, sys, tempfile; \
	  h = hashlib.sha256(os.path.realpath(sys.argv[1]).encode()).hexdigest()[:10]; \
	  print(os.path.join(tempfile.gettempdir(), "meshkeys-e2e-" + h))' "$(CURDIR)")"

distclean: clean
	rm -rf $(VENV)

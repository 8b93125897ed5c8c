# Handrail: `make up` runs everything on this machine; `make test` runs the suite.

PYTHON ?= $(or $(shell command -v python3.11 2>/dev/null),python3)
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: venv up test lint chromium screenshots

# --- venv: create .venv once; reinstall only when pyproject.toml changed since the last install

venv: $(STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -e '.[test]'
	touch $(STAMP)

# --- up: embedded Postgres/Redis/Temporal where no URL is set, migrate, seed, serve; Ctrl-C stops all

up: venv
	$(VENV)/bin/python manage.py up

# --- test: lint, types, then the whole suite against real Postgres, Redis, Temporal and Chromium.
# DATABASE_URL / REDIS_URL are used where set (CI sets them); otherwise the embedded servers.
# TEMPORAL_ADDRESS is used where set; otherwise the suite starts `temporal server start-dev` itself.

test: venv chromium lint
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# --- screenshots: refresh the README's pictures from the browser tests (a plain test run does not)

screenshots: venv chromium
	HANDRAIL_SCREENSHOTS=$(CURDIR)/docs/screenshots $(VENV)/bin/python -m pytest tests/e2e -q

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Browser tests drive Debian's Chromium (Playwright cannot download browsers here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	}

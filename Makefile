# Questbridge: `make run` starts the product, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run test lint venv deps dev-deps frontend frontend-test chromium migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements-dev.txt requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.deps $@

venv: $(BIN)/python
deps: $(VENV)/.deps
dev-deps: $(VENV)/.dev-deps

# The admin UI is built when frontend/ has one. `npm install` with the committed lock installs the
# locked versions and keeps an installed node_modules between runs (`npm ci` would delete it).
frontend:
	@if [ -f frontend/package.json ]; then \
		cd frontend && npm install --no-audit --no-fund && npm run build; \
	fi

# The admin UI's component tests (Vitest, in jsdom).
frontend-test: frontend
	@if [ -f frontend/package.json ]; then cd frontend && npm test -- --run; fi

# The admin UI's browser tests drive Debian's Chromium (a browser cannot be downloaded here): root
# installs it when missing; anyone else is told how, and those tests then fail saying so.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core; \
		else \
			echo "warning: /usr/bin/chromium is missing, so the browser tests will fail: sudo apt-get install -y chromium" >&2; \
		fi; \
	fi

migrate: deps
	$(BIN)/flask --app backend db upgrade

run: deps frontend migrate
	PUBLIC_URL=$${PUBLIC_URL:-http://$(HOST):$(PORT)} $(BIN)/flask --app backend seed-demo
	PUBLIC_URL=$${PUBLIC_URL:-http://$(HOST):$(PORT)} SCHEDULER_ENABLED=$${SCHEDULER_ENABLED:-true} \
		PORT=$(PORT) HOST=$(HOST) $(BIN)/gunicorn -c gunicorn.conf.py "backend:create_app()"

lint: dev-deps
	$(BIN)/ruff check backend tests bench
	$(BIN)/ruff format --check backend tests bench

test: dev-deps frontend chromium
	$(BIN)/ruff check backend tests bench
	@if [ -f frontend/package.json ]; then cd frontend && npm test -- --run; fi
	$(BIN)/pytest

clean:
	rm -rf $(VENV) frontend/dist frontend/node_modules

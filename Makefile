# Questbridge: `make run` starts the product, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run test lint venv deps dev-deps frontend migrate clean

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

# The admin UI is built when frontend/ has one.
frontend:
	@if [ -f frontend/package.json ]; then \
		cd frontend && { [ -f package-lock.json ] && npm ci --no-audit --no-fund || npm install --no-audit --no-fund; } && npm run build; \
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

test: dev-deps frontend
	$(BIN)/ruff check backend tests bench
	$(BIN)/pytest

clean:
	rm -rf $(VENV) frontend/dist frontend/node_modules

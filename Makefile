# SMS Desk: `make run` sets up and starts everything; `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
# `make run` is a local demo: Django's debug mode unless the environment says otherwise.
RUN_ENV := DEBUG=$${DEBUG:-true}

.PHONY: run test lint format migrate bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(RUNTIME_STAMP)

run: $(RUNTIME_STAMP)
	mkdir -p var
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py ensure_demo_admin
	$(RUN_ENV) $(PY) manage.py seed_demo
	$(RUN_ENV) $(PY) manage.py rundesk

migrate: $(RUNTIME_STAMP)
	$(RUN_ENV) $(PY) manage.py migrate --noinput

# Tests run with DEBUG off, as production does, on their own SQLite file and broker folder
# (used only when DATABASE_URL / CELERY_BROKER_URL are not set).
TEST_ENV := DEBUG=false SECRET_KEY=$${SECRET_KEY:-test-only-secret} \
	ALLOWED_HOSTS=$${ALLOWED_HOSTS:-testserver,127.0.0.1,localhost} \
	SQLITE_TEST_NAME=$${SQLITE_TEST_NAME:-$(CURDIR)/var/test.sqlite3} \
	CELERY_BROKER_FOLDER=$${CELERY_BROKER_FOLDER:-$(CURDIR)/var/test-broker}

test: $(DEV_STAMP)
	mkdir -p var
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(DEV_STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(DEV_STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache

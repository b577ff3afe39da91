# The commands people, the README and CI use. `make run` and `make test` set up everything.
SHELL := /bin/bash
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install services browser migrate run test test-faults test-containers lint format bench i18n clean

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

install: $(UV)  ## virtual environment with the locked dependencies
	$(UV) sync --frozen --quiet

services:  ## local PostgreSQL and RabbitMQ up (installed and started if needed)
	scripts/ensure-services.sh

browser:  ## Debian's Chromium for the browser tests (tests/browser), installed if missing
	scripts/ensure-chromium.sh

# Two database roles, as in production (docs/operations.md, Database roles): migrate connects as
# the owner and creates the processes' role, which the api, worker and scheduler connect as.
# The defaults are .env.example's (DATABASE_URL's is also the code's); make sets these two itself,
# so only the environment overrides them for make run (README, Quick start), as it does
# RABBITMQ_URL, RABBITMQ_QUEUE and API_PORT (8000), which the processes read themselves.
migrate run: export MIGRATE_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/tasktracker
migrate run: export DATABASE_URL ?= postgresql://tasktracker:tasktracker-local@127.0.0.1:5432/tasktracker

migrate: install services  ## the schema migrated as the owner, the processes' role provisioned
	$(BIN)/tasktracker migrate

run: migrate  ## the API, a worker and the scheduler in the foreground until Ctrl-C
	@scripts/run.sh $(BIN)

test: install services browser  ## the whole test suite, against real PostgreSQL and RabbitMQ
	$(BIN)/pytest

test-faults: install services  ## only the fault scenarios (tests/faults; also part of `make test`)
	$(BIN)/pytest tests/faults

bench: install services  ## 1,000,000 versions through the pipeline against the SQL floor (BENCH_ARGS=...)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

test-containers: install  ## only the compose stack on a real Docker engine (also part of `make test`)
	$(BIN)/pytest tests/containers

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

I18N := app/i18n
# A log call's first argument is its msgid; N_("...") marks one kept in a table.
I18N_KEYWORDS := -k debug -k info -k warning -k error -k exception -k critical -k N_

i18n: install  ## messages from the code into app/i18n/messages.pot, then each language's .po updated and its .mo compiled
	$(BIN)/pybabel --quiet extract --no-default-keywords $(I18N_KEYWORDS) -F $(I18N)/babel.cfg \
		--sort-by-file --no-wrap --project task-tracker-automation -o $(I18N)/messages.pot .
	$(BIN)/pybabel --quiet update --no-wrap --ignore-obsolete -i $(I18N)/messages.pot -d $(I18N)/locales -D messages
	$(BIN)/pybabel compile --statistics -d $(I18N)/locales -D messages
	@# The console's pages (app/console/templates) have their own catalogue, console.po.
	$(BIN)/pybabel compile --statistics -d $(I18N)/locales -D console

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache .hypothesis

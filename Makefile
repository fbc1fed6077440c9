# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv themselves.
PY ?= $(shell scripts/find-python 3.12 || scripts/find-python 3.13 || scripts/find-python 3.11 || command -v python3)
PYENV_BINS := $(shell ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[0-3]*/bin 2>/dev/null | tr '\n' ':')
export PATH := $(PYENV_BINS)$(PATH)
VENV := .venv

.PHONY: demo serve test lint clean

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e ".[dev]" dj-database-url uv
	touch $@

demo: $(VENV)/.installed  ## Run the demo on SQLite and print the timeline of one webhook.
	cd example && ../$(VENV)/bin/python manage.py automate demo

PORT ?= 8000
serve: $(VENV)/.installed  ## Keep the demo's server and worker running, with a curl command to try (PORT=8000).
	cd example && ../$(VENV)/bin/python manage.py automate demo --serve --port $(PORT)

test: $(VENV)/.installed  ## Lint, the full suite on every reachable database, and the version matrix.
	NOX=$(VENV)/bin/nox scripts/test-matrix $(NOXFLAGS)

lint: $(VENV)/.installed
	$(VENV)/bin/nox -s lint

clean:
	rm -rf $(VENV) .nox example/db.sqlite3 tests/.automate-*.sqlite3*

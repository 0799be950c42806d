# Two commands for a new user: `make demo` and `make test`. Both bootstrap .venv on first use.
#   make PYTHON=/path/to/python3.12 test   picks the interpreter (default: the newest of
#                                          python3.13 / python3.12 / python3 >= 3.10 that runs)
#   make VENV=.venv311 ...                 keeps a second environment beside the first

PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	if $$p -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then \
	echo $$p; break; fi; done)
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.visdomkit-installed
EXTRAS ?= dev,notebooks
PYTEST_ARGS ?=
DEMO_ARGS ?=
SCREENSHOT_ARGS ?=

.PHONY: setup demo test lint pytest assets screenshot clean

setup: $(STAMP)

# Re-runs only when the dependency files change; a second `make setup` installs nothing.
$(STAMP): requirements.txt pyproject.toml build-constraints.txt
	@test -n "$(PYTHON)" || { echo "no Python >= 3.10 found; pass PYTHON=/path/to/python3" >&2; exit 1; }
	@test -x $(VPY) || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(VPY) -m pip install --quiet --upgrade 'pip>=25.3'
	$(VPY) -m pip install --quiet --build-constraint build-constraints.txt \
		-r requirements.txt -e '.[$(EXTRAS)]'
	$(VPY) -m visdomkit assets install || \
		echo "WARNING: dashboard assets not installed; see README (Troubleshooting)" >&2
	@touch $(STAMP)

demo: $(STAMP)
	$(VPY) -m visdomkit demo $(DEMO_ARGS)

lint: $(STAMP)
	$(VPY) -m ruff check .
	$(VPY) -m ruff format --check .

pytest: $(STAMP)
	$(VPY) -m pytest $(PYTEST_ARGS)

test: lint pytest

assets: $(STAMP)
	$(VPY) -m visdomkit assets install

# The README's pictures (images/1.png, 2.png, 3.png): runs the demo, photographs it in Chromium.
screenshot: $(STAMP)
	$(VPY) -m visdomkit screenshot $(SCREENSHOT_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

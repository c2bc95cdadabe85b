# Two commands set kaowu up on a fresh machine:
#   make run    create .venv, install kaowu, start it on its embedded defaults
#   make test   install the test extras too, then lint and run the whole test suite
# Extra arguments: make run ARGS="ask 保密室每班几个人？", make test PYTEST_ARGS="-m 'not slow'".

PYTHON ?= $(shell command -v python3.11 || command -v python3)
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "kaowu needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

# torch first, pinned: the local CPU build, not the multi-GB CUDA one.
$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,st,llm]"
	@# The web console's browser tests drive Debian's chromium through Playwright; no browser
	@# is downloaded from anywhere else. A CJK font makes the saved screenshots readable.
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -q && \
		$(SUDO) apt-get install -y -q chromium fonts-wqy-microhei; }
	@touch $@ $(VENV)/.run-deps

run: $(VENV)/.run-deps
	$(BIN)/kaowu $(ARGS)

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.test-deps
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache

# The project's two commands: `make chat` and `make test`. Both bootstrap .venv from the lock first,
# so a fresh clone needs nothing but python3 (>= 3.11) and network access to PyPI.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: chat test lint bench sandbox server lock clean help browser notebook

help:
	@echo "make chat    - start the chat (sandbox when no credentials are set)"
	@echo "make test    - run the whole test suite"
	@echo "make bench   - run the side-by-side benchmarks"
	@echo "make sandbox - run the local stand-ins and print their env"
	@echo "make server  - run 'langgraph dev' on the agent (PORT=2024 SERVER_HOST=127.0.0.1; checks config and port first)"
	@echo "make notebook - open JupyterLab on notebooks/ (01_quickstart runs on the sandbox)"
	@echo "make lock    - re-resolve requirements.lock from pyproject.toml"
	@echo "make lint    - ruff (pyflakes, import order, unused arguments); part of make test"

# Says what it does at each step: on a fresh clone this takes a minute or two (uv shows its own progress).
$(STAMP): requirements.lock pyproject.toml
	@echo "Setting up $(VENV) from requirements.lock (first run: a minute or two; later runs skip this)…"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import uv' 2>/dev/null || { echo "  installing uv…"; $(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.8; }
	@echo "  installing the locked packages…"
	@$(BIN)/uv pip sync --compile-bytecode --python $(BIN)/python requirements.lock
	@$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@# Bytecode up front: with PYTHONDONTWRITEBYTECODE set (common in containers) every start would
	@# otherwise recompile LangGraph & co. from source (vault-agent threads: 5.6 s → 1.3 s).
	@echo "  compiling bytecode…"
	@$(BIN)/python -m compileall -q -j 0 agent auth tools sandbox >/dev/null
	@touch $(STAMP)
	@echo "Ready. Commands: $(BIN)/vault-agent --help (or: source $(BIN)/activate, then vault-agent …)"

chat: $(STAMP)
	@$(BIN)/vault-agent chat $(ARGS)

sandbox: $(STAMP)
	@$(BIN)/vault-agent sandbox

PORT ?= 2024
SERVER_HOST ?= 127.0.0.1
server: $(STAMP)
	@$(BIN)/python -m agent.serve --host $(SERVER_HOST) --port $(PORT)

browser:
	@scripts/ensure-chromium

test: $(STAMP) browser lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

notebook: $(STAMP)
	@$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

lock:
	@test -x $(BIN)/uv || $(MAKE) $(STAMP)
	$(BIN)/uv pip compile -q pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache

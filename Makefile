# The project's two commands: `make chat` and `make test`. Both bootstrap .venv from the lock first,
# so a fresh clone needs nothing but python3 (>= 3.11) and network access to PyPI.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# Two pytest processes (pytest-xdist), each test file kept in one of them (its module servers start once):
# the suite mostly waits on servers, browsers and terminals. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
# Aegra (the production engine of the LangGraph server) needs Python >= 3.12: a second venv from its own
# lock (requirements-aegra.lock: the product plus the `aegra` extra, same versions as requirements.lock).
PYTHON312 ?= $(firstword $(foreach p,$(shell command -v python3.12 python3.13 2>/dev/null) $(wildcard $(HOME)/.pyenv/versions/3.1[23]*/bin/python3.1[23]),$(shell $(p) -c 'import sys; assert sys.version_info >= (3, 12); print("$(p)")' 2>/dev/null)))
AEGRA_VENV  := .venv-aegra
AEGRA_STAMP := $(AEGRA_VENV)/.installed
ENGINE  ?= langgraph-dev
WORKERS ?= 1

.PHONY: chat test lint bench sandbox server lock clean help browser notebook

help:
	@echo "make chat    - start the chat (sandbox when no credentials are set)"
	@echo "make test    - run the whole test suite"
	@echo "make bench   - run the side-by-side benchmarks, then the server path on both engines (BENCH_SERVER_ARGS='--repeats 3 …')"
	@echo "make sandbox - run the local stand-ins and print their env"
	@echo "make server  - run 'langgraph dev' on the agent (PORT=2024 SERVER_HOST=127.0.0.1; checks config and port first)"
	@echo "make server ENGINE=aegra WORKERS=2 - the same on Aegra: N processes on one port, PostgreSQL + Redis (README › Deploy)"
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

$(AEGRA_STAMP): requirements-aegra.lock pyproject.toml $(STAMP)
	@test -n "$(PYTHON312)" || { echo "Aegra needs Python >= 3.12: install python3.12 or set PYTHON312=/path/to/python3.12"; exit 2; }
	@test -x $(AEGRA_VENV)/bin/python || $(PYTHON312) -m venv $(AEGRA_VENV)
	$(BIN)/uv pip sync -q --compile-bytecode --python $(AEGRA_VENV)/bin/python requirements-aegra.lock
	$(BIN)/uv pip install -q --python $(AEGRA_VENV)/bin/python --no-deps -e .
	@$(AEGRA_VENV)/bin/python -m compileall -q -j 0 agent auth tools >/dev/null
	@touch $(AEGRA_STAMP)

chat: $(STAMP)
	@$(BIN)/vault-agent chat $(ARGS)

sandbox: $(STAMP)
	@$(BIN)/vault-agent sandbox

PORT ?= 2024
SERVER_HOST ?= 127.0.0.1
ifeq ($(ENGINE),aegra)
server: $(AEGRA_STAMP)
	@$(AEGRA_VENV)/bin/python -m agent.serve --engine aegra --workers $(WORKERS) --host $(SERVER_HOST) --port $(PORT)
else
server: $(STAMP)
	@$(BIN)/python -m agent.serve --host $(SERVER_HOST) --port $(PORT) $(if $(RELOAD),--reload)
endif

browser:
	@scripts/ensure-chromium

test: $(STAMP) $(AEGRA_STAMP) browser lint
	$(BIN)/python -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

notebook: $(STAMP)
	@$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(ARGS)

BENCH_SERVER_ARGS ?=
bench: $(STAMP) $(AEGRA_STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.server_path $(BENCH_SERVER_ARGS)

lock:
	@test -x $(BIN)/uv || $(MAKE) $(STAMP)
	$(BIN)/uv pip compile -q pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile -q pyproject.toml --extra aegra --python-version 3.12 -c requirements.lock -o requirements-aegra.lock

clean:
	rm -rf $(VENV) $(AEGRA_VENV) .pytest_cache

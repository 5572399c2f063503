"""Each command imports only what it needs (speed itself is measured in bench/startup.py, not here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("langgraph", "langchain_core", "langchain_openai", "openai", "googleapiclient", "typer")

PROBE = """
import json, sys
sys.argv = ["vault-agent", *{args!r}]
from agent.cli.main import run
try:
    run()
except SystemExit:
    pass
print("MODULES " + json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


def _loaded(args: list[str], env: dict[str, str], output: bool = False):
    out = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], env=env, capture_output=True, text=True,
                         timeout=120).stdout
    line = next(line for line in out.splitlines() if line.startswith("MODULES "))
    loaded = set(json.loads(line.removeprefix("MODULES ")))
    return (loaded, out) if output else loaded


def test_help_imports_neither_langgraph_nor_rich_nor_pydantic():
    loaded = _loaded(["--help"], dict(os.environ))
    assert not loaded & {*HEAVY, "rich", "pydantic", "httpx", "prompt_toolkit"}, loaded


async def test_threads_reads_langgraphs_store_without_loading_the_agent(tmp_path):
    """A conversation written through LangGraph's own SQLite store is listed by `vault-agent threads`, which
    reads that table with the standard library."""
    from langgraph.store.sqlite.aio import AsyncSqliteStore

    from agent.session_runner import THREADS_NAMESPACE

    async with AsyncSqliteStore.from_conn_string(str(tmp_path / "threads.sqlite")) as store:
        await store.setup()
        await store.aput((THREADS_NAMESPACE, "auth0|alice"), "thread-from-the-store",
                         {"title": "What's on my calendar tomorrow?", "status": "done", "updated": 1.0})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_"))}
    env.update(VAULT_AGENT_STATE_DIR=str(tmp_path), VAULT_AGENT_CONFIG_DIR=str(tmp_path),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring", COLUMNS="200")
    loaded, out = _loaded(["threads"], env, output=True)
    assert "thread-from-the-store" in out and "calendar tomorrow" in out
    assert "sandbox" in loaded  # it did run (nothing configured: the in-process sandbox)
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    again, out = _loaded(["threads"], env, output=True)  # the sandbox's user is known now: no sandbox started
    assert "thread-from-the-store" in out
    assert "sandbox" not in again and not again & set(HEAVY)

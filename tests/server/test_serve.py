"""`make server PORT=…` refuses to start with one line when the port is taken or configuration is
missing, and keeps AUTH0_CALLBACK_URL in step with the port; a bare `langgraph dev` refuses too."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from agent.serve import callback_url

ROOT = Path(__file__).resolve().parents[2]


def _env(sandbox, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_", "VAULT_AGENT_"))}
    env.update(sandbox.env)
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def test_callback_url_follows_the_port():
    assert callback_url("", "127.0.0.1", 3001) == "http://127.0.0.1:3001/auth/callback"
    assert callback_url("", "0.0.0.0", 3001) == "http://127.0.0.1:3001/auth/callback"
    assert callback_url("http://localhost:2024/auth/callback", "127.0.0.1", 3001) == \
        "http://localhost:3001/auth/callback"
    assert callback_url("https://agent.example.com/auth/callback", "0.0.0.0", 3001) == \
        "https://agent.example.com/auth/callback"  # behind a proxy: left alone


def test_a_taken_port_is_one_line(sandbox, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(["make", "-s", "server", f"PORT={port}"], cwd=ROOT, env=_env(sandbox),
                              capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    [line] = [l for l in done.stderr.splitlines() if l.startswith("vault-agent server:")]
    assert f"port {port}" in line and "PORT=" in line


def test_missing_configuration_is_one_line(sandbox):
    done = subprocess.run([sys.executable, "-m", "agent.serve", "--port", "0"], cwd=ROOT,
                          env=_env(sandbox, VAULT_AGENT_ENCRYPTION_KEY="", AUTH0_AUDIENCE=""),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "VAULT_AGENT_ENCRYPTION_KEY" in line and "AUTH0_AUDIENCE" in line


def test_the_auth_module_refuses_to_load_without_a_key(sandbox):
    """What `langgraph dev` run by hand sees: the auth module stops the server with the same line."""
    done = subprocess.run([sys.executable, "-c", "import runpy; runpy.run_path('auth/langgraph_auth.py')"],
                          cwd=ROOT, env=_env(sandbox, VAULT_AGENT_ENCRYPTION_KEY="",
                                             AUTH0_CALLBACK_URL="http://127.0.0.1:1/auth/callback"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("vault-agent server: VAULT_AGENT_ENCRYPTION_KEY")


def test_langgraph_dev_itself_refuses_a_bad_key(sandbox, tmp_path):
    import pytest

    from sandbox.langgraph_dev import LangGraphDev

    with pytest.raises(RuntimeError) as refused:
        LangGraphDev(dict(sandbox.env, VAULT_AGENT_ENCRYPTION_KEY="short"), workdir=tmp_path).start()
    assert "langgraph dev exited" in str(refused.value)
    assert "vault-agent server: VAULT_AGENT_ENCRYPTION_KEY is not a 32-byte" in str(refused.value)

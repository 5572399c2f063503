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


def test_make_server_engine_aegra_runs_n_processes_on_one_port(sandbox, tmp_path, new_database, aegra_ready):
    """`make server ENGINE=aegra WORKERS=2`: the database migrated once, two processes behind one port,
    requests authenticated, `/internal/*` refused; refused with one line without a PostgreSQL URL."""
    import secrets
    import time

    import httpx

    from sandbox.aegra import PYTHON

    command = [str(PYTHON), "-m", "agent.serve", "--engine", "aegra", "--workers", "2"]
    refused = subprocess.run([*command, "--port", "0"], cwd=ROOT, env=_env(sandbox, VAULT_AGENT_DB_URL=""),
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "VAULT_AGENT_DB_URL must be a postgresql:// URL" in refused.stderr

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tag = secrets.token_hex(4)
    with new_database() as database_url:
        env = _env(sandbox, VAULT_AGENT_DB_URL=database_url, VAULT_AGENT_STATE_DIR=str(tmp_path / "state"),
                   REDIS_CHANNEL_PREFIX=f"vault-agent-test:{tag}:run:", WORKER_QUEUE_KEY=f"vault-agent-test:{tag}:jobs")
        log = open(tmp_path / "server.log", "w")
        server = subprocess.Popen([*command, "--port", str(port)], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            text = ""
            for _ in range(1500):  # two processes importing LangGraph on a loaded 2-core machine: up to 5 min
                text = (tmp_path / "server.log").read_text()
                if text.count("Application startup complete") >= 2 or server.poll() is not None:
                    break
                time.sleep(0.2)
            assert text.count("Application startup complete") == 2, text[-3000:]
            assert "Traceback" not in text and "FutureWarning" not in text  # no migration race, quiet
            url = f"http://127.0.0.1:{port}"
            assert httpx.get(url + "/health").status_code == 200
            assert httpx.post(url + "/threads", json={}).status_code == 401
            assert httpx.post(url + "/internal/truncate", json={}).status_code == 404
        finally:
            server.terminate()
            server.wait(30)

"""`vault-agent mcp` as a user starts it: serves on the given port, protected from the first request."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


@pytest.mark.slow
def test_vault_agent_mcp_serves_a_protected_endpoint(sandbox, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, **sandbox.env, "VAULT_AGENT_STATE_DIR": str(tmp_path)}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "vault-agent"), "mcp", "--port", str(port)], env=env,
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                response = httpx.post(base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[1]
                time.sleep(0.1)
        assert response.status_code == 401
        assert f'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"' in response.headers["www-authenticate"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert f"MCP server at {base}/mcp" in err and "Traceback" not in err


def test_vault_agent_mcp_with_an_unusable_database_says_so_in_one_line(sandbox, tmp_path):
    env = {**os.environ, **sandbox.env, "VAULT_AGENT_STATE_DIR": str(tmp_path), "VAULT_AGENT_DB_URL": "mysql://db/x"}
    proc = subprocess.run([str(Path(sys.executable).parent / "vault-agent"), "mcp", "--port", "0"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "VAULT_AGENT_DB_URL must be a sqlite:/// path or a postgresql:// URL" in proc.stderr
    assert "Traceback" not in proc.stderr

"""`vault-agent mcp` on a free loopback port against the test session's sandbox, served from a thread
with its own event loop (as `vault-agent mcp` serves it, minus the process)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from agent.mcp_server.app import VaultMCP
from auth.settings import Settings


@contextmanager
def running_mcp_server(sandbox, **options: Any) -> Iterator[dict[str, Any]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sandbox.control.create_api(url + "/mcp")  # the tenant's API whose identifier is the MCP server's URL
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in sandbox.env.items()})
    server = VaultMCP(settings, url, timezone="UTC", **options)
    web = uvicorn.Server(uvicorn.Config(server.app(), log_level="warning", access_log=False))
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(web.serve(sockets=[sock]))
        loop.run_until_complete(server.services.aclose())
        leftovers = asyncio.all_tasks(loop)  # e.g. SSE streams' shutdown watchers
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=run, daemon=True, name="mcp-server")
    thread.start()
    for _ in range(200):
        try:
            httpx.get(url + "/.well-known/oauth-protected-resource/mcp", timeout=1)
            break
        except httpx.TransportError:
            threading.Event().wait(0.05)
    try:
        yield {"url": url, "mcp": url + "/mcp", "auth0": sandbox.env["AUTH0_DOMAIN"]}
    finally:
        web.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="session")
def mcp_server(sandbox):
    with running_mcp_server(sandbox) as server:
        yield server


@pytest.fixture
def start_mcp_server(sandbox):
    """`with start_mcp_server(**options) as server:` — an MCP server of the test's own, with options."""
    return lambda **options: running_mcp_server(sandbox, **options)

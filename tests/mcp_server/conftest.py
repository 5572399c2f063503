"""`vault-agent mcp` on a free loopback port against the test session's sandbox."""

from __future__ import annotations

import asyncio
import socket
import threading

import httpx
import pytest

from agent.mcp_server.app import serve
from auth.settings import Settings


@pytest.fixture(scope="session")
def mcp_server(sandbox):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    sandbox.control.create_api(url + "/mcp")  # the API whose identifier is the MCP server's URL
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in sandbox.env.items()})
    loop = asyncio.new_event_loop()
    task: list[asyncio.Task] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        task.append(loop.create_task(serve(settings, "127.0.0.1", port, timezone="UTC", sockets=[sock])))
        try:
            loop.run_until_complete(task[0])
        except asyncio.CancelledError:
            pass

    thread = threading.Thread(target=run, daemon=True, name="mcp-server")
    thread.start()
    for _ in range(200):
        try:
            httpx.get(url + "/.well-known/oauth-protected-resource/mcp", timeout=1)
            break
        except httpx.TransportError:
            threading.Event().wait(0.05)
    yield {"url": url, "mcp": url + "/mcp", "auth0": sandbox.env["AUTH0_DOMAIN"]}
    loop.call_soon_threadsafe(task[0].cancel)
    thread.join(10)
    sock.close()

"""`vault-agent mcp` on a loopback port against the test session's sandbox, served from a thread with its
own event loop and its own database connection (as `vault-agent mcp` serves it, minus the process)."""

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
from agent.mcp_server.rounds import request_state_key
from agent.persistence import open_persistence
from auth.settings import Settings
from tools.services import Services


@contextmanager
def running_mcp_server(sandbox, *, db_url: str, port: int = 0, **options: Any) -> Iterator[dict[str, Any]]:
    """An MCP server whose pending links live in the store of `db_url` (opened as `vault-agent mcp`
    opens it), on `port` (0: a free one; the same port again is a restart)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sandbox.control.create_api(url + "/mcp")  # the tenant's API whose identifier is the MCP server's URL
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in sandbox.env.items()}, vault_agent_db_url=db_url)
    loop = asyncio.new_event_loop()
    web: dict[str, uvicorn.Server] = {}
    started = threading.Event()

    async def serve() -> None:
        async with open_persistence(settings) as persistence:
            services = Services.create(settings, persistence.store)
            server = VaultMCP(settings, url, timezone="UTC", services=services,
                              state_key=await request_state_key(persistence.store), **options)
            web["server"] = uvicorn.Server(uvicorn.Config(server.app(), log_level="warning", access_log=False))
            started.set()
            try:
                await web["server"].serve(sockets=[sock])
            finally:
                await services.aclose()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve())
        finally:
            started.set()
            leftovers = asyncio.all_tasks(loop)  # e.g. SSE streams' shutdown watchers
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.close()

    thread = threading.Thread(target=run, daemon=True, name="mcp-server")
    thread.start()
    started.wait(30)
    for _ in range(200):
        try:
            httpx.get(url + "/.well-known/oauth-protected-resource/mcp", timeout=1)
            break
        except httpx.TransportError:
            threading.Event().wait(0.05)
    try:
        yield {"url": url, "mcp": url + "/mcp", "auth0": sandbox.env["AUTH0_DOMAIN"], "db_url": db_url}
    finally:
        if "server" in web:
            web["server"].should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="session")
def mcp_server(sandbox, tmp_path_factory):
    db = tmp_path_factory.mktemp("mcp") / "mcp.sqlite"
    with running_mcp_server(sandbox, db_url=f"sqlite:///{db}") as server:
        yield server


@pytest.fixture
def start_mcp_server(sandbox, tmp_path):
    """`with start_mcp_server(**options) as server:` — an MCP server of the test's own, with options; its
    database is this test's SQLite file unless `db_url` says otherwise."""
    default_db = f"sqlite:///{tmp_path / 'mcp.sqlite'}"
    return lambda db_url=default_db, **options: running_mcp_server(sandbox, db_url=db_url, **options)


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database for this test session (as in tests/durability), or a skip."""
    import os
    import secrets

    import psycopg

    admin_url = os.environ.get("VAULT_AGENT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    name = "vault_agent_mcp_" + secrets.token_hex(4)
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("VAULT_AGENT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here (VAULT_AGENT_REQUIRE_POSTGRES=1) but {admin_url} "
                        f"is not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {admin_url} (set VAULT_AGENT_TEST_PG): {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    yield admin_url.rsplit("/", 1)[0] + "/" + name
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()

"""The three front ends that answer a linking callback, side by side on one sandbox: the CLI chat's
loopback receiver (in-process, as `vault-agent chat` runs it), `langgraph dev` (its link page and
callback) and `vault-agent mcp` (its link page and callback). Each `Surface` pauses a user and returns
the link the user would open; the tests answer it the same way on all three."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from linking_helpers import APP_URL, ASK, TESTS, TTL
from loopback import callback_port


def _mcp_conftest():
    spec = importlib.util.spec_from_file_location("mcp_server_conftest", TESTS / "mcp_server" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Surface:
    name: str
    pause: Callable[[dict], Awaitable[str]]  # user → the link the user opens


@pytest.fixture(scope="package")
def linking_server(sandbox, tmp_path_factory):
    from sandbox.langgraph_dev import LangGraphDev

    env = dict(sandbox.env, VAULT_AGENT_TIMEZONE="Asia/Tokyo", VAULT_AGENT_LINK_PAGE_TTL_SECONDS=str(TTL),
               VAULT_AGENT_APP_URL=APP_URL)
    with LangGraphDev(env, workdir=tmp_path_factory.mktemp("langgraph-linking")) as server:
        yield {"url": server.url}


@pytest.fixture(scope="package")
def linking_mcp(sandbox, tmp_path_factory):
    db = tmp_path_factory.mktemp("mcp-linking") / "mcp.sqlite"
    with _mcp_conftest().running_mcp_server(sandbox, db_url=f"sqlite:///{db}", link_ttl_seconds=TTL) as server:
        yield server


@asynccontextmanager
async def cli_surface_for(sandbox, tmp_path, control, **settings: str) -> AsyncIterator[Surface]:
    """The chat's own callback handling (`Chat._on_callback` behind its `CallbackReceiver`), on a free port."""
    from agent.cli.chat import Chat
    from agent.cli.runtime import CliRuntime
    from agent.persistence import open_persistence
    from agent.session_runner import AgentSession, AuthorizationNeeded
    from auth.credentials import UserCredentials
    from auth.settings import Settings
    from tools.services import Services

    values = {k.lower(): v for k, v in sandbox.env.items()}
    values.update(auth0_callback_url=f"http://127.0.0.1:{callback_port()}/callback",
                  vault_agent_db_url=f"sqlite:///{tmp_path / 'cli.sqlite'}", **settings)
    configured = Settings(_env_file=None, **values)
    async with open_persistence(configured) as persistence:
        services = Services.create(configured, persistence.store)
        chats: list[Chat] = []

        async def pause(user: dict) -> str:
            tokens = control.session(user["user_id"])
            me = UserCredentials(user["user_id"], tokens["id_token"], refresh_token=tokens["refresh_token"])
            session = AgentSession(services, persistence, me, timezone="UTC")
            session.linker.ttl_seconds = TTL
            chat = Chat(CliRuntime(configured, None), session, open_browser=False)
            await chat.receiver.start()
            chats.append(chat)
            pauses = [e async for e in session.stream(str(uuid.uuid4()), ASK) if isinstance(e, AuthorizationNeeded)]
            return pauses[0].payload["authorize_url"]

        try:
            yield Surface("cli", pause)
        finally:
            for chat in chats:
                await chat.receiver.stop()
            await services.aclose()


@pytest.fixture
async def cli_surface(sandbox, tmp_path, control):
    async with cli_surface_for(sandbox, tmp_path, control) as surface:
        yield surface


def server_surface_for(server: dict, control) -> Surface:
    from langgraph_sdk import get_client

    async def pause(user: dict) -> str:
        tokens = control.session(user["user_id"], audience="https://vault-agent.sandbox/api")
        client = get_client(url=server["url"], headers={"Authorization": f"Bearer {tokens['access_token']}"})
        thread = await client.threads.create()
        await client.runs.wait(thread["thread_id"], "agent", input={"messages": [{"role": "user", "content": ASK}]})
        [interrupt] = (await client.threads.get_state(thread["thread_id"]))["interrupts"]
        return interrupt["value"]["authorize_url"]

    return Surface("server", pause)


@pytest.fixture
def server_surface(linking_server, control):
    return server_surface_for(linking_server, control)


def mcp_surface_for(server: dict, control) -> Surface:
    from mcp.shared.exceptions import MCPError, UrlElicitationRequiredError
    from mcp_helpers import mcp_client

    async def pause(user: dict) -> str:
        """A 2025-11-25 client: the call fails with -32042 carrying the link (2026-07-28 carries the same
        link in its input-required result; the pages behind it are the same)."""
        async with mcp_client(server, control, user["user_id"]) as client:
            try:
                tomorrow = (date.today() + timedelta(days=1)).isoformat()
                await client.client.call_tool("list_calendar_events", {"start": tomorrow})
            except MCPError as exc:
                [ask] = UrlElicitationRequiredError.from_error(exc.error).elicitations
                return ask.url
        raise AssertionError("the MCP server did not ask for authorization")

    return Surface("mcp", pause)


@pytest.fixture
def mcp_surface(linking_mcp, control):
    return mcp_surface_for(linking_mcp, control)


# -- AUTH0_LINK_MODE=connected_accounts: the same three surfaces -------------------------------------
@pytest.fixture(scope="package")
def connected_server(sandbox, tmp_path_factory):
    from sandbox.langgraph_dev import LangGraphDev

    env = dict(sandbox.env, AUTH0_LINK_MODE="connected_accounts", VAULT_AGENT_TIMEZONE="UTC")
    with LangGraphDev(env, workdir=tmp_path_factory.mktemp("langgraph-connected-accounts")) as server:
        yield {"url": server.url}


@pytest.fixture(scope="package")
def connected_mcp(sandbox, tmp_path_factory):
    db = tmp_path_factory.mktemp("mcp-connected-accounts") / "mcp.sqlite"
    configured = SimpleNamespace(env=dict(sandbox.env, AUTH0_LINK_MODE="connected_accounts"), control=sandbox.control)
    with _mcp_conftest().running_mcp_server(configured, db_url=f"sqlite:///{db}") as server:
        yield server


@pytest.fixture
async def connected_surfaces(sandbox, tmp_path, control, connected_server, connected_mcp) -> AsyncIterator[list]:
    async with cli_surface_for(sandbox, tmp_path, control, auth0_link_mode="connected_accounts") as cli:
        yield [cli, server_surface_for(connected_server, control), mcp_surface_for(connected_mcp, control)]


@pytest.fixture
def surfaces(cli_surface, server_surface, mcp_surface) -> list[Surface]:
    return [cli_surface, server_surface, mcp_surface]


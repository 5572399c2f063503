"""`vault-agent mcp` keeps its pending links in the database of `VAULT_AGENT_DB_URL`, not in its memory:
a link survives a restart of the server, and with two server processes on one database the callback
may land on either. Real processes (`vault-agent mcp`), the official client, the sandbox tenant."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from mcp import types
from mcp.shared.exceptions import MCPError, UrlElicitationRequiredError
from mcp.types import URL_ELICITATION_REQUIRED
from mcp_helpers import STATELESS, Browser, MemoryStorage, mcp_client

TOMORROW = (date.today() + timedelta(days=1)).isoformat()
JWT_MARKER = b"eyJhbGci"  # '{"alg' in base64url: the start of every JWT (access and ID tokens of the tenant)

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def mcp_process(sandbox, tmp_path: Path, db_url: str, port: int, public_url: str | None = None,
                name: str = "mcp") -> Iterator[dict[str, str]]:
    """`vault-agent mcp --port P` as a user runs it, on the database `db_url`."""
    base = public_url or f"http://127.0.0.1:{port}"
    sandbox.control.create_api(base + "/mcp")
    env = {**os.environ, **sandbox.env, "VAULT_AGENT_DB_URL": db_url,
           "VAULT_AGENT_STATE_DIR": str(tmp_path / f"state-{name}")}
    args = [str(Path(sys.executable).parent / "vault-agent"), "mcp", "--port", str(port)]
    if public_url:
        args += ["--public-url", public_url]
    errlog = open(tmp_path / f"{name}-stderr.txt", "a")
    proc = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=errlog)
    own = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(own + "/.well-known/oauth-protected-resource/mcp", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, (tmp_path / f"{name}-stderr.txt").read_text()
                time.sleep(0.1)
        yield {"url": base, "mcp": base + "/mcp", "auth0": sandbox.env["AUTH0_DOMAIN"], "own": own}
    finally:
        proc.terminate()
        proc.wait(15)
        errlog.close()
    assert "Traceback" not in (tmp_path / f"{name}-stderr.txt").read_text()


async def _elicitation(client, tool: str, args: dict):
    with pytest.raises(MCPError) as caught:
        await client.client.call_tool(tool, args)
    assert caught.value.error.code == URL_ELICITATION_REQUIRED
    [ask] = UrlElicitationRequiredError.from_error(caught.value.error).elicitations
    return ask


class RoutedBrowser(Browser):
    """The browser behind a load balancer that sends the callbacks to another process than the link."""

    def __init__(self, *args, route_callbacks_to: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.route_callbacks_to = route_callbacks_to

    async def open(self, url: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as http:
            for _ in range(10):
                if url.startswith(self.auth0_url):
                    url = await asyncio.to_thread(self.control.authorize, url, self.user_id, self.action)
                    continue
                parts, headers = urlsplit(url), {}
                if parts.path == "/auth/callback":  # as a proxy forwards it: to B, with the public Host
                    url, headers = self.route_callbacks_to + parts.path + "?" + parts.query, {"host": parts.netloc}
                response = await http.get(url, headers=headers)
                self.pages.append(response)
                if response.status_code not in (301, 302, 303, 307):
                    return response
                url = response.headers["location"]
        raise AssertionError("too many redirects")


def _persisted(tmp_path: Path) -> bytes:
    return b"".join(f.read_bytes() for f in tmp_path.glob("mcp.sqlite*") if f.is_file())


def _assert_no_token(tmp_path: Path, sandbox, user, secrets: list[str]) -> None:
    """The database's rows (file and WAL) hold no access, refresh or ID token, nor a provider token."""
    persisted = _persisted(tmp_path)
    assert b"mcp_elicitation" in persisted  # the scan reads the database the server wrote
    provider_tokens = [t for t, g in sandbox.world.provider_grants.items()
                       if g.user_id in (user["google"]["user_id"], user["github"]["user_id"])]
    for secret in [*secrets, *provider_tokens]:
        assert secret and secret.encode() not in persisted
    assert JWT_MARKER not in persisted


def _assert_no_token_in_postgres(db_url: str, sandbox, user, secrets: list[str]) -> None:
    """Every row of every table, as text."""
    import psycopg

    with psycopg.connect(db_url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        dump = "".join(str(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'))
    assert "mcp_elicitation" in dump
    provider_tokens = [t for t, g in sandbox.world.provider_grants.items()
                       if g.user_id in (user["google"]["user_id"], user["github"]["user_id"])]
    for secret in [*secrets, *provider_tokens]:
        assert secret and secret not in dump
    assert JWT_MARKER.decode() not in dump


async def test_legacy_link_survives_a_restart_of_the_server(sandbox, control, user, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'mcp.sqlite'}"
    port = _free_port()
    with mcp_process(sandbox, tmp_path, db_url, port) as server:
        async with mcp_client(server, control, user["user_id"]) as client:
            ask = await _elicitation(client, "list_calendar_events", {"start": TOMORROW})
            secrets = [client.storage.tokens.access_token, client.storage.tokens.refresh_token or "x" * 40]
    assert ask.url.startswith(server["url"] + "/link/")
    _assert_no_token(tmp_path, sandbox, user, secrets)  # a pending link, as it waits in the database

    with mcp_process(sandbox, tmp_path, db_url, port) as server:  # a new process, same database
        browser = Browser(control, server["auth0"], user["user_id"])
        page = await browser.open(ask.url)
        assert page.status_code == 200 and "close this tab" in page.text, page.text
        async with mcp_client(server, control, user["user_id"]) as client:
            result = await client.client.call_tool("list_calendar_events", {"start": TOMORROW})
            assert not result.is_error and "Team standup" in result.content[0].text
            secrets += [client.storage.tokens.access_token]
        # The link was used: it is gone from the database for every process.
        assert (await Browser(control, server["auth0"], user["user_id"]).open(ask.url)).status_code == 410
    _assert_no_token(tmp_path, sandbox, user, secrets)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_two_processes_one_database_callback_on_the_other(sandbox, control, user, tmp_path, request, database):
    db_url = f"sqlite:///{tmp_path / 'mcp.sqlite'}" if database == "sqlite" else request.getfixturevalue("postgres_url")
    port_a, port_b = _free_port(), _free_port()
    public = f"http://127.0.0.1:{port_a}"  # the URL clients know; a balancer may send a request to either
    with mcp_process(sandbox, tmp_path, db_url, port_a, public, name="a") as a, \
            mcp_process(sandbox, tmp_path, db_url, port_b, public, name="b") as b:
        async with mcp_client(a, control, user["user_id"]) as client:
            ask = await _elicitation(client, "list_github_repositories", {})
            browser = RoutedBrowser(control, a["auth0"], user["user_id"], route_callbacks_to=b["own"])
            page = await browser.open(ask.url)
            # Both callbacks (after the sign-in, after the linking) were answered by B from the database.
            assert [urlsplit(str(p.url)).port for p in browser.pages if p.url.path == "/auth/callback"] == [port_b] * 2
            assert page.status_code == 200 and "close this tab" in page.text, page.text
            # A holds the session: it sees the answer in the database and notifies the client.
            assert await asyncio.wait_for(client.completed.get(), 30) == ask.elicitation_id
            result = await client.client.call_tool("list_github_repositories", {})
            assert not result.is_error and user["github"]["login"] + "/vault-agent-demo" in result.content[0].text
            secrets = [client.storage.tokens.access_token]

        # A decline answered on B reaches the retry on A as the tool's sentence, then a new link.
        async with mcp_client(a, control, user["user_id"]) as client:
            ask = await _elicitation(client, "list_calendar_events", {"start": TOMORROW})
            page = await RoutedBrowser(control, a["auth0"], user["user_id"], action="deny",
                                       route_callbacks_to=b["own"]).open(ask.url)
            assert page.status_code == 200 and "declined" in page.text
            assert await asyncio.wait_for(client.completed.get(), 30) == ask.elicitation_id
            result = await client.client.call_tool("list_calendar_events", {"start": TOMORROW})
            assert result.is_error and "declined" in result.content[0].text
            again = await _elicitation(client, "list_calendar_events", {"start": TOMORROW})
            assert again.elicitation_id != ask.elicitation_id
    if database == "sqlite":
        _assert_no_token(tmp_path, sandbox, user, secrets)
    else:
        _assert_no_token_in_postgres(db_url, sandbox, user, secrets)


async def test_stateless_restart_between_the_pause_and_the_retry_loses_nothing(sandbox, control, user, tmp_path):
    """2026-07-28: the client holds the input-required result; the server restarts; the user opens the link
    on the new process; the client's retry with the old request state runs the tool there."""
    db_url = f"sqlite:///{tmp_path / 'mcp.sqlite'}"
    port = _free_port()
    storage = MemoryStorage()  # the client's logged-in state, kept across its reconnect
    with mcp_process(sandbox, tmp_path, db_url, port) as server:
        async with mcp_client(server, control, user["user_id"], version=STATELESS, storage=storage) as client:
            first = await client.session.call_tool("create_github_issue", _issue_args(user), allow_input_required=True)
    assert isinstance(first, types.InputRequiredResult)
    url = first.model_dump(by_alias=True)["inputRequests"]["link"]["params"]["url"]

    with mcp_process(sandbox, tmp_path, db_url, port) as server:  # a new process, same database
        page = await Browser(control, server["auth0"], user["user_id"]).open(url)
        assert page.status_code == 200 and "close this tab" in page.text, page.text
        async with mcp_client(server, control, user["user_id"], version=STATELESS, storage=storage) as client:
            result = await client.client.call_tool("create_github_issue", _issue_args(user), request_state=first.request_state,
                                                   input_responses={"link": types.ElicitResult(action="accept")})
            assert not result.is_error and "Created issue" in result.content[0].text
            secrets = [storage.tokens.access_token, storage.tokens.refresh_token or "x" * 40]
    issues = [i for i in control.provider_data(user["user_id"])["issues"]["vault-agent-demo"]
              if i["title"] == _issue_args(user)["title"]]
    assert len(issues) == 1
    _assert_no_token(tmp_path, sandbox, user, secrets)


def _issue_args(user) -> dict:
    return {"repo": f"{user['github']['login']}/vault-agent-demo", "title": "Survives a restart"}


async def test_stateless_retry_lands_on_another_process_of_the_same_database(sandbox, control, user, tmp_path):
    """2026-07-28 behind a balancer: the input-required result comes from A, the link and the retry (with A's
    sealed request state) go to B, which opens the state with the key both keep in the database."""
    db_url = f"sqlite:///{tmp_path / 'mcp.sqlite'}"
    port_a, port_b = _free_port(), _free_port()
    public = f"http://127.0.0.1:{port_a}"
    storage = MemoryStorage()
    with mcp_process(sandbox, tmp_path, db_url, port_a, public, name="a") as a, \
            mcp_process(sandbox, tmp_path, db_url, port_b, public, name="b") as b:
        async with mcp_client(a, control, user["user_id"], version=STATELESS, storage=storage) as client:
            first = await client.session.call_tool("list_github_repositories", {}, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult)
        url = first.model_dump(by_alias=True)["inputRequests"]["link"]["params"]["url"]
        page = await RoutedBrowser(control, a["auth0"], user["user_id"], route_callbacks_to=b["own"]).open(url)
        assert page.status_code == 200 and "close this tab" in page.text, page.text
        on_b = {**b, "mcp": b["own"] + "/mcp"}  # the retry reaches B (the token's audience is the public URL)
        async with mcp_client(on_b, control, user["user_id"], version=STATELESS, storage=storage) as client:
            result = await client.client.call_tool("list_github_repositories", {}, request_state=first.request_state,
                                                   input_responses={"link": types.ElicitResult(action="accept")})
            assert not result.is_error and user["github"]["login"] + "/vault-agent-demo" in result.content[0].text

"""`vault-agent mcp` driven by the official MCP client: OAuth as a protected resource, URL elicitation
through the sandbox tenant, completion notification, retry — and the guarantees of the other surfaces."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta

import httpx
import pytest
from mcp.shared.exceptions import McpError, UrlElicitationRequiredError
from mcp.types import URL_ELICITATION_REQUIRED
from mcp_helpers import Browser, mcp_client

TOMORROW = (date.today() + timedelta(days=1)).isoformat()
CALENDAR_READ = ["https://www.googleapis.com/auth/calendar.readonly"]
SECRET_MARKERS = ("eyJ", "ya29.", "gho_")  # Auth0 JWTs, Google and GitHub tokens (sandbox prefixes)


async def _elicitation(session, tool: str, args: dict) -> UrlElicitationRequiredError:
    with pytest.raises(McpError) as caught:
        await session.call_tool(tool, args)
    assert caught.value.error.code == URL_ELICITATION_REQUIRED
    return UrlElicitationRequiredError.from_error(caught.value.error)


def _server_logs(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records
                     if r.name.split(".")[0] in ("agent", "auth", "tools", "uvicorn") or r.name.startswith("mcp.server"))


async def test_call_elicit_authorize_notify_retry(mcp_server, control, user, caplog):
    caplog.set_level(logging.DEBUG)
    messages: list = []
    async with mcp_client(mcp_server, control, user["user_id"], messages=messages) as client:
        session = client.session
        names = {t.name for t in (await session.list_tools()).tools}
        assert {"list_calendar_events", "create_calendar_event", "list_github_issues"} <= names

        error = await _elicitation(session, "list_calendar_events", {"start": TOMORROW})
        [ask] = error.elicitations
        assert ask.mode == "url" and ask.url.startswith(mcp_server["url"] + "/link/")
        assert "Google Calendar" in ask.message

        # Asking again before the user answered gives the same elicitation, not a second one.
        again = await _elicitation(session, "list_calendar_events", {"start": TOMORROW})
        assert again.elicitations[0].elicitationId == ask.elicitationId

        browser = Browser(control, mcp_server["auth0"], user["user_id"])
        page = await browser.open(ask.url)
        assert page.status_code == 200 and "close this tab" in page.text
        assert await asyncio.wait_for(client.completed.get(), 30) == ask.elicitationId

        result = await session.call_tool("list_calendar_events", {"start": TOMORROW})
        text = result.content[0].text
        assert not result.isError
        assert "Team standup" in text and "Design review with Priya" in text

    assert "google-oauth2" in {t["connection"] for t in control.tokensets(user["user_id"])}
    # The link is single use.
    assert (await Browser(control, mcp_server["auth0"], user["user_id"]).open(ask.url)).status_code == 410
    # No token in anything the client received, in our pages, or in what the server logged.
    seen = repr(messages) + repr(error.error) + text + _server_logs(caplog) + "".join(
        p.text for p in browser.pages if p.status_code == 200)
    for marker in SECRET_MARKERS:
        assert marker not in seen


async def test_declined_is_a_clear_tool_error(mcp_server, control, user):
    async with mcp_client(mcp_server, control, user["user_id"]) as client:
        [ask] = (await _elicitation(client.session, "list_github_repositories", {})).elicitations
        page = await Browser(control, mcp_server["auth0"], user["user_id"], action="deny").open(ask.url)
        assert page.status_code == 200 and "declined" in page.text
        assert await asyncio.wait_for(client.completed.get(), 30) == ask.elicitationId
        result = await client.session.call_tool("list_github_repositories", {})
        assert result.isError and "declined access to GitHub" in result.content[0].text
        # The next call asks again, with a new link.
        again = await _elicitation(client.session, "list_github_repositories", {})
        assert again.elicitations[0].elicitationId != ask.elicitationId


async def test_expired_is_a_clear_tool_error(start_mcp_server, control, user):
    with start_mcp_server(link_ttl_seconds=0) as server:  # every link is born expired
        async with mcp_client(server, control, user["user_id"]) as client:
            [ask] = (await _elicitation(client.session, "list_github_repositories", {})).elicitations
            page = await Browser(control, server["auth0"], user["user_id"]).open(ask.url)
            assert page.status_code == 410 and "expired" in page.text
            result = await client.session.call_tool("list_github_repositories", {})
            assert result.isError and "did not complete" in result.content[0].text
    assert control.tokensets(user["user_id"]) == []


async def test_client_without_url_elicitation_gets_the_link_as_a_tool_error(mcp_server, control, user):
    async with mcp_client(mcp_server, control, user["user_id"], url_elicitation=False) as client:
        result = await client.session.call_tool("list_github_repositories", {})
        text = result.content[0].text
        assert result.isError and "GitHub" in text and mcp_server["url"] + "/link/" in text
        url = text[text.index(mcp_server["url"] + "/link/"):].split()[0]
        assert (await Browser(control, mcp_server["auth0"], user["user_id"]).open(url)).status_code == 200
        result = await client.session.call_tool("list_github_repositories", {})
        assert not result.isError and user["github"]["login"] + "/vault-agent-demo" in result.content[0].text


async def test_link_opened_by_another_user_is_refused(mcp_server, control, user):
    intruder = control.create_user()
    async with mcp_client(mcp_server, control, user["user_id"]) as client:
        [ask] = (await _elicitation(client.session, "list_github_repositories", {})).elicitations
    page = await Browser(control, mcp_server["auth0"], intruder["user_id"]).open(ask.url)
    assert page.status_code == 403 and "another user" in page.text
    assert control.tokensets(user["user_id"]) == [] and control.tokensets(intruder["user_id"]) == []


async def test_two_users_on_one_server_see_their_own_data(mcp_server, control, user):
    other = control.create_user()
    for who in (user, other):
        control.seed_tokenset(who["user_id"], "github", ["repo"])
    async with mcp_client(mcp_server, control, user["user_id"]) as mine, \
            mcp_client(mcp_server, control, other["user_id"]) as theirs:
        a, b = await asyncio.gather(mine.session.call_tool("list_github_repositories", {}),
                                    theirs.session.call_tool("list_github_repositories", {}))
        a_text, b_text = a.content[0].text, b.content[0].text
        assert user["github"]["login"] + "/vault-agent-demo" in a_text
        assert other["github"]["login"] not in a_text
        assert other["github"]["login"] + "/vault-agent-demo" in b_text
        assert user["github"]["login"] not in b_text
        # Linking is per user too: one user's Google does not serve the other.
        control.seed_tokenset(user["user_id"], "google-oauth2", CALENDAR_READ)
        assert not (await mine.session.call_tool("list_calendar_events", {"start": TOMORROW})).isError
        await _elicitation(theirs.session, "list_calendar_events", {"start": TOMORROW})
        # And one user's token cannot drive the other's MCP session.
        their_token = theirs.storage.tokens.access_token
        hijack = httpx.post(mcp_server["mcp"], json={"jsonrpc": "2.0", "id": 9, "method": "tools/list"},
                            headers={"Authorization": f"Bearer {their_token}", "mcp-session-id": mine.session_id(),
                                     "Accept": "application/json, text/event-stream"})
        assert hijack.status_code == 404


async def test_pre_registered_public_client(mcp_server, control, user, sandbox):
    control.seed_tokenset(user["user_id"], "google-oauth2", CALENDAR_READ)
    async with mcp_client(mcp_server, control, user["user_id"],
                          client_id=sandbox.env["SANDBOX_PUBLIC_CLIENT_ID"]) as client:
        result = await client.session.call_tool("list_calendar_events", {"start": TOMORROW})
        assert not result.isError and "Team standup" in result.content[0].text
        assert client.storage.client.client_id == sandbox.env["SANDBOX_PUBLIC_CLIENT_ID"]  # no registration


async def test_outage_is_not_a_link_request(mcp_server, control, user):
    async with mcp_client(mcp_server, control, user["user_id"]) as client:
        control.add_fault("auth0", "/oauth/token", "status", status=503)
        result = await client.session.call_tool("list_github_repositories", {})
    assert result.isError and "503" in result.content[0].text and "authoriz" not in result.content[0].text.lower()


async def test_write_runs_once_after_authorization(mcp_server, control, user):
    args = {"repo": f"{user['github']['login']}/vault-agent-demo", "title": "Ship the MCP server"}
    async with mcp_client(mcp_server, control, user["user_id"]) as client:
        [ask] = (await _elicitation(client.session, "create_github_issue", args)).elicitations
        await Browser(control, mcp_server["auth0"], user["user_id"]).open(ask.url)
        await asyncio.wait_for(client.completed.get(), 30)
        result = await client.session.call_tool("create_github_issue", args)
        assert not result.isError and "Created issue" in result.content[0].text
    issues = [i for i in control.provider_data(user["user_id"])["issues"]["vault-agent-demo"]
              if i["title"] == "Ship the MCP server"]
    assert len(issues) == 1


def test_forged_or_replayed_callbacks_get_an_error_page(mcp_server):
    for query in ("", "?state=forged&code=abc", "?error=access_denied&state=forged", "?state=" + "x" * 20000):
        page = httpx.get(mcp_server["url"] + "/auth/callback" + query)
        assert page.status_code == 400 and "<script" not in page.text
    assert httpx.get(mcp_server["url"] + "/link/unknown").status_code == 410


def test_missing_or_invalid_bearer_gets_401_with_the_metadata_hint(mcp_server, control, user, sandbox):
    metadata_url = mcp_server["url"] + "/.well-known/oauth-protected-resource/mcp"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    wrong_audience = control.session(user["user_id"], audience=sandbox.env["AUTH0_AUDIENCE"])["access_token"]
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {wrong_audience}"}):
        response = httpx.post(mcp_server["mcp"], json=body,
                              headers={**headers, "Accept": "application/json, text/event-stream"})
        assert response.status_code == 401
        assert f'resource_metadata="{metadata_url}"' in response.headers["www-authenticate"]
    metadata = httpx.get(metadata_url).json()
    assert metadata["resource"] == mcp_server["mcp"]
    assert metadata["authorization_servers"] == [sandbox.env["AUTH0_DOMAIN"] + "/"]

"""`vault-agent mcp` driven by the official MCP client (`mcp` 2.x) on both protocol versions: OAuth as a
protected resource; on 2025-11-25 URL elicitation (-32042) → link page → completion notification → retry; on
2026-07-28 an input-required result → link page → retry with the sealed request state; the link in the
tool's text for clients without URL elicitation — and the guarantees of the other surfaces."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from cimd_documents import client_document, document_server
from mcp import types
from mcp.shared.exceptions import MCPError, UrlElicitationRequiredError
from mcp.types import URL_ELICITATION_REQUIRED
from mcp_helpers import LEGACY, STATELESS, VERSIONS, Browser, mcp_client

TOMORROW = (date.today() + timedelta(days=1)).isoformat()
CALENDAR_READ = ["https://www.googleapis.com/auth/calendar.readonly"]
SECRET_MARKERS = ("eyJ", "ya29.", "gho_")  # Auth0 JWTs, Google and GitHub tokens (sandbox prefixes)


async def _elicitation(client, tool: str, args: dict) -> types.ElicitRequestURLParams:
    """2025-11-25: the call fails with -32042 carrying one URL."""
    with pytest.raises(MCPError) as caught:
        await client.client.call_tool(tool, args)
    assert caught.value.error.code == URL_ELICITATION_REQUIRED
    [ask] = UrlElicitationRequiredError.from_error(caught.value.error).elicitations
    return ask


async def _input_required(client, tool: str, args: dict, **kw) -> types.InputRequiredResult:
    """2026-07-28, one round driven by hand: the input-required result itself."""
    result = await client.session.call_tool(tool, args, allow_input_required=True, **kw)
    assert isinstance(result, types.InputRequiredResult), result
    return result


def _server_logs(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records
                     if r.name.split(".")[0] in ("agent", "auth", "tools", "uvicorn") or r.name.startswith("mcp.server"))


async def test_legacy_call_elicit_authorize_notify_retry(mcp_server, control, user, caplog):
    caplog.set_level(logging.DEBUG)
    messages: list = []
    async with mcp_client(mcp_server, control, user["user_id"], version=LEGACY, messages=messages) as client:
        names = {t.name for t in (await client.client.list_tools()).tools}
        assert {"list_calendar_events", "create_calendar_event", "list_github_issues"} <= names

        ask = await _elicitation(client, "list_calendar_events", {"start": TOMORROW})
        assert ask.mode == "url" and ask.url.startswith(mcp_server["url"] + "/link/")
        assert "Google Calendar" in ask.message

        # Asking again before the user answered gives the same elicitation, not a second one.
        again = await _elicitation(client, "list_calendar_events", {"start": TOMORROW})
        assert again.elicitation_id == ask.elicitation_id

        browser = Browser(control, mcp_server["auth0"], user["user_id"])
        page = await browser.open(ask.url)
        assert page.status_code == 200 and "close this tab" in page.text
        assert await asyncio.wait_for(client.completed.get(), 30) == ask.elicitation_id

        result = await client.client.call_tool("list_calendar_events", {"start": TOMORROW})
        text = result.content[0].text
        assert not result.is_error
        assert "Team standup" in text and "Design review with Priya" in text

    assert "google-oauth2" in {t["connection"] for t in control.tokensets(user["user_id"])}
    # The link is single use.
    assert (await Browser(control, mcp_server["auth0"], user["user_id"]).open(ask.url)).status_code == 410
    # No token in anything the client received, in our pages, or in what the server logged.
    seen = repr(messages) + repr(ask) + text + _server_logs(caplog) + "".join(
        p.text for p in browser.pages if p.status_code == 200)
    for marker in SECRET_MARKERS:
        assert marker not in seen


async def test_stateless_call_input_required_link_retry(mcp_server, control, user, caplog):
    """2026-07-28: the client's automatic loop — input-required, the user opens the link, the retry
    carrying the request state runs the tool. Nothing of 2025-11-25 (no -32042, no notification)."""
    caplog.set_level(logging.DEBUG)
    messages: list = []
    async with mcp_client(mcp_server, control, user["user_id"], version=STATELESS, messages=messages) as client:
        names = {t.name for t in (await client.client.list_tools()).tools}
        assert {"list_calendar_events", "create_calendar_event", "list_github_issues"} <= names
        result = await client.client.call_tool("list_calendar_events", {"start": TOMORROW})
        text = result.content[0].text
        assert not result.is_error and "Team standup" in text and "Design review with Priya" in text
        [ask] = client.asked
        assert ask.mode == "url" and ask.url.startswith(mcp_server["url"] + "/link/")
        assert ask.elicitation_id is None and "Google Calendar" in ask.message
        # Linked now: the next call runs at once, without a round.
        assert not (await client.client.call_tool("list_calendar_events", {"start": TOMORROW})).is_error
        assert len(client.asked) == 1
    assert client.completed.empty()
    assert not [m for m in messages if isinstance(m, types.ElicitCompleteNotification)]
    assert "google-oauth2" in {t["connection"] for t in control.tokensets(user["user_id"])}
    seen = repr(messages) + repr(client.asked) + text + _server_logs(caplog)
    for marker in SECRET_MARKERS:
        assert marker not in seen


async def test_stateless_input_required_result_and_its_sealed_state(mcp_server, control, user):
    """One round by hand: the wire shape, the same link while it is pending, and a state nobody can forge,
    move to other arguments, or use as another user."""
    other = control.create_user()
    async with mcp_client(mcp_server, control, user["user_id"], version=STATELESS) as client, \
            mcp_client(mcp_server, control, other["user_id"], version=STATELESS) as intruder:
        first = await _input_required(client, "list_github_repositories", {})
        wire = first.model_dump(by_alias=True, exclude_none=True)
        assert wire["resultType"] == "input_required"
        request = wire["inputRequests"]["link"]
        assert request["method"] == "elicitation/create" and request["params"]["mode"] == "url"
        assert "elicitationId" not in request["params"]
        url, state = request["params"]["url"], first.request_state
        assert url.startswith(mcp_server["url"] + "/link/") and state
        assert url.rsplit("/", 1)[1] not in state  # sealed, not merely signed: the link id is not readable

        # The same pending link on a fresh call.
        again = await _input_required(client, "list_github_repositories", {})
        assert again.model_dump(by_alias=True)["inputRequests"]["link"]["params"]["url"] == url

        for who, tool, args, forged in ((client, "list_github_repositories", {}, state[:-4] + "AAAA"),
                                        (client, "list_github_issues", {"repo": "a/b"}, state),
                                        (intruder, "list_github_repositories", {}, state)):
            with pytest.raises(MCPError) as caught:
                await who.session.call_tool(tool, args, request_state=forged, allow_input_required=True)
            assert caught.value.error.code == types.INVALID_PARAMS
            assert "requestState" in caught.value.error.message
        assert control.tokensets(user["user_id"]) == [] and control.tokensets(other["user_id"]) == []

        # The user opens the link; the retry with the state (and the client's accept) runs the tool.
        assert (await Browser(control, mcp_server["auth0"], user["user_id"]).open(url)).status_code == 200
        done = await client.session.call_tool(
            "list_github_repositories", {}, request_state=state, allow_input_required=True,
            input_responses={"link": types.ElicitResult(action="accept")})
        assert isinstance(done, types.CallToolResult) and not done.is_error
        assert user["github"]["login"] + "/vault-agent-demo" in done.content[0].text


async def test_stateless_retry_while_the_user_is_still_on_the_page_asks_nothing_new(start_mcp_server, control, user,
                                                                                     monkeypatch):
    from agent.mcp_server import rounds

    monkeypatch.setattr(rounds, "RETRY_WAIT_SECONDS", 0.5)
    with start_mcp_server() as server:
        async with mcp_client(server, control, user["user_id"], version=STATELESS) as client:
            first = await _input_required(client, "list_github_repositories", {})
            waiting = await client.session.call_tool(
                "list_github_repositories", {}, request_state=first.request_state, allow_input_required=True,
                input_responses={"link": types.ElicitResult(action="accept")})
            assert isinstance(waiting, types.InputRequiredResult)
            assert not waiting.input_requests and waiting.request_state  # state only: retry, no new prompt


@pytest.mark.parametrize("version", VERSIONS)
async def test_declined_is_a_clear_tool_error(mcp_server, control, user, version):
    async with mcp_client(mcp_server, control, user["user_id"], version=version, browser_action="deny") as client:
        if version == LEGACY:
            ask = await _elicitation(client, "list_github_repositories", {})
            page = await Browser(control, mcp_server["auth0"], user["user_id"], action="deny").open(ask.url)
            assert page.status_code == 200 and "declined" in page.text
            assert await asyncio.wait_for(client.completed.get(), 30) == ask.elicitation_id
        result = await client.client.call_tool("list_github_repositories", {})
        assert result.is_error and "declined access to GitHub" in result.content[0].text
        # The next call asks again, with a new link.
        if version == LEGACY:
            again = await _elicitation(client, "list_github_repositories", {})
            assert again.elicitation_id != ask.elicitation_id
        else:
            again = await _input_required(client, "list_github_repositories", {})
            new_url = again.model_dump(by_alias=True)["inputRequests"]["link"]["params"]["url"]
            assert new_url != client.asked[0].url
    assert control.tokensets(user["user_id"]) == []


async def test_stateless_user_who_closes_the_prompt_gets_a_sentence(mcp_server, control, user):
    async with mcp_client(mcp_server, control, user["user_id"], version=STATELESS, browser_action="cancel") as client:
        result = await client.client.call_tool("list_github_repositories", {})
    assert result.is_error and "did not open the authorization link" in result.content[0].text


@pytest.mark.parametrize("version", VERSIONS)
async def test_expired_is_a_clear_tool_error(start_mcp_server, control, user, version):
    with start_mcp_server(link_ttl_seconds=0) as server:  # every link is born expired
        async with mcp_client(server, control, user["user_id"], version=version, max_rounds=1) as client:
            if version == LEGACY:
                ask = await _elicitation(client, "list_github_repositories", {})
                url = ask.url
            else:
                first = await _input_required(client, "list_github_repositories", {})
                url = first.model_dump(by_alias=True)["inputRequests"]["link"]["params"]["url"]
            page = await Browser(control, server["auth0"], user["user_id"]).open(url)
            assert page.status_code == 410 and "expired" in page.text
            result = await client.client.call_tool("list_github_repositories", {})
            assert result.is_error and "did not complete" in result.content[0].text
    assert control.tokensets(user["user_id"]) == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_client_without_url_elicitation_gets_the_link_as_a_tool_error(mcp_server, control, user, version):
    async with mcp_client(mcp_server, control, user["user_id"], version=version, url_elicitation=False) as client:
        result = await client.client.call_tool("list_github_repositories", {})
        text = result.content[0].text
        assert result.is_error and "GitHub" in text and mcp_server["url"] + "/link/" in text
        url = text[text.index(mcp_server["url"] + "/link/"):].split()[0]
        assert (await Browser(control, mcp_server["auth0"], user["user_id"]).open(url)).status_code == 200
        result = await client.client.call_tool("list_github_repositories", {})
        assert not result.is_error and user["github"]["login"] + "/vault-agent-demo" in result.content[0].text


async def test_form_only_client_gets_the_link_in_text(mcp_server, control, user):
    """A client that declares form elicitation only (as Claude Code does), on plain HTTP: one stateless
    2026-07-28 request with its capabilities in `_meta`; the answer is the tool's text with the link."""
    async with mcp_client(mcp_server, control, user["user_id"], version=STATELESS) as client:
        await client.client.list_tools()  # logs in
        token = client.storage.tokens.access_token
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "list_github_repositories", "arguments": {},
        "_meta": {"io.modelcontextprotocol/protocolVersion": STATELESS,
                  "io.modelcontextprotocol/clientInfo": {"name": "form-only", "version": "1"},
                  "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}}}}}
    response = httpx.post(mcp_server["mcp"], json=body, timeout=30, headers={
        "Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": STATELESS, "Mcp-Method": "tools/call", "Mcp-Name": "list_github_repositories"})
    assert response.status_code == 200, response.text
    assert "mcp-session-id" not in response.headers
    result = types.CallToolResult.model_validate(response.json()["result"])
    assert result.is_error and mcp_server["url"] + "/link/" in result.content[0].text and "GitHub" in result.content[0].text


async def test_link_opened_by_another_user_is_refused(mcp_server, control, user):
    intruder = control.create_user()
    async with mcp_client(mcp_server, control, user["user_id"], version=STATELESS) as client:
        first = await _input_required(client, "list_github_repositories", {})
    url = first.model_dump(by_alias=True)["inputRequests"]["link"]["params"]["url"]
    page = await Browser(control, mcp_server["auth0"], intruder["user_id"]).open(url)
    assert page.status_code == 403 and "another user" in page.text
    assert control.tokensets(user["user_id"]) == [] and control.tokensets(intruder["user_id"]) == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_two_users_on_one_server_see_their_own_data(mcp_server, control, user, version):
    other = control.create_user()
    for who in (user, other):
        control.seed_tokenset(who["user_id"], "github", ["repo"])
    async with mcp_client(mcp_server, control, user["user_id"], version=version) as mine, \
            mcp_client(mcp_server, control, other["user_id"], version=version, url_elicitation=False) as theirs:
        a, b = await asyncio.gather(mine.client.call_tool("list_github_repositories", {}),
                                    theirs.client.call_tool("list_github_repositories", {}))
        a_text, b_text = a.content[0].text, b.content[0].text
        assert user["github"]["login"] + "/vault-agent-demo" in a_text
        assert other["github"]["login"] not in a_text
        assert other["github"]["login"] + "/vault-agent-demo" in b_text
        assert user["github"]["login"] not in b_text
        # Linking is per user too: one user's Google does not serve the other.
        control.seed_tokenset(user["user_id"], "google-oauth2", CALENDAR_READ)
        assert not (await mine.client.call_tool("list_calendar_events", {"start": TOMORROW})).is_error
        refused = await theirs.client.call_tool("list_calendar_events", {"start": TOMORROW})
        assert refused.is_error and "/link/" in refused.content[0].text
        if version == LEGACY:  # one user's token cannot drive the other's MCP session
            their_token = theirs.storage.tokens.access_token
            hijack = httpx.post(mcp_server["mcp"], json={"jsonrpc": "2.0", "id": 9, "method": "tools/list"},
                                headers={"Authorization": f"Bearer {their_token}",
                                         "mcp-session-id": next(iter(mine.session_ids)),
                                         "Accept": "application/json, text/event-stream",
                                         "MCP-Protocol-Version": LEGACY})
            assert hijack.status_code == 404


async def test_pre_registered_public_client(mcp_server, control, user, sandbox):
    control.seed_tokenset(user["user_id"], "google-oauth2", CALENDAR_READ)
    async with mcp_client(mcp_server, control, user["user_id"], version=STATELESS,
                          client_id=sandbox.env["SANDBOX_PUBLIC_CLIENT_ID"]) as client:
        result = await client.client.call_tool("list_calendar_events", {"start": TOMORROW})
        assert not result.is_error and "Team standup" in result.content[0].text
        assert client.storage.client.client_id == sandbox.env["SANDBOX_PUBLIC_CLIENT_ID"]  # no registration


async def test_outage_is_not_a_link_request(mcp_server, control, user):
    async with mcp_client(mcp_server, control, user["user_id"], version=STATELESS) as client:
        await client.client.list_tools()  # logs in before the tenant's token endpoint fails
        control.add_fault("auth0", "/oauth/token", "status", status=503)
        result = await client.client.call_tool("list_github_repositories", {})
    assert result.is_error and "503" in result.content[0].text and "authoriz" not in result.content[0].text.lower()
    assert not client.asked


@pytest.mark.parametrize("version", VERSIONS)
async def test_write_runs_once_after_authorization(mcp_server, control, user, version):
    args = {"repo": f"{user['github']['login']}/vault-agent-demo", "title": f"Ship the MCP server ({version})"}
    async with mcp_client(mcp_server, control, user["user_id"], version=version) as client:
        if version == LEGACY:
            ask = await _elicitation(client, "create_github_issue", args)
            await Browser(control, mcp_server["auth0"], user["user_id"]).open(ask.url)
            await asyncio.wait_for(client.completed.get(), 30)
        result = await client.client.call_tool("create_github_issue", args)
        assert not result.is_error and "Created issue" in result.content[0].text
    issues = [i for i in control.provider_data(user["user_id"])["issues"]["vault-agent-demo"]
              if i["title"] == args["title"]]
    assert len(issues) == 1


def test_forged_or_replayed_callbacks_get_an_error_page(mcp_server):
    for query in ("", "?state=forged&code=abc", "?error=access_denied&state=forged", "?state=" + "x" * 20000):
        page = httpx.get(mcp_server["url"] + "/auth/callback" + query)
        assert page.status_code == 400 and "<script" not in page.text
    assert httpx.get(mcp_server["url"] + "/link/unknown").status_code == 410


def test_missing_or_invalid_bearer_gets_401_with_the_metadata_and_scope_hints(mcp_server, control, user, sandbox):
    metadata_url = mcp_server["url"] + "/.well-known/oauth-protected-resource/mcp"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    wrong_audience = control.session(user["user_id"], audience=sandbox.env["AUTH0_AUDIENCE"])["access_token"]
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {wrong_audience}"}):
        response = httpx.post(mcp_server["mcp"], json=body,
                              headers={**headers, "Accept": "application/json, text/event-stream"})
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        assert f'resource_metadata="{metadata_url}"' in challenge and 'scope="openid offline_access"' in challenge
    metadata = httpx.get(metadata_url).json()
    assert metadata["resource"] == mcp_server["mcp"]
    assert metadata["authorization_servers"] == [sandbox.env["AUTH0_DOMAIN"] + "/"]
    assert metadata["scopes_supported"] == ["openid", "offline_access"]


async def test_discovery_on_each_version(mcp_server, control, user):
    """2026-07-28: `server/discover`, no session id; 2025-11-25: initialize and a session."""
    async with mcp_client(mcp_server, control, user["user_id"], version=STATELESS) as modern:
        discovered = types.DiscoverResult.model_validate(await modern.session.send_discover(STATELESS))
        assert STATELESS in discovered.supported_versions
        assert discovered.capabilities.tools is not None
        assert (await modern.client.list_tools()).tools and not modern.session_ids
    async with mcp_client(mcp_server, control, user["user_id"], version="auto") as default:
        assert default.client.protocol_version == STATELESS  # the 2.x client's default mode lands on 2026-07-28
    async with mcp_client(mcp_server, control, user["user_id"], version=LEGACY) as legacy:
        assert legacy.session_ids
        assert legacy.session.initialize_result.server_info.name == "vault-agent"


@pytest.mark.parametrize("version", VERSIONS)
async def test_registration_by_client_id_metadata_document(mcp_server, control, user, version):
    """The client's id is the https URL of its metadata document (CIMD, what 2025-11-25 recommends and
    2026-07-28 prefers to DCR): no registration request; the tenant fetched the document; the user consented
    (a third-party application) and the call works."""
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    with document_server(https=True) as docs:
        url = docs["base"] + "/vault-agent-tests/client.json"
        docs["docs"]["vault-agent-tests/client.json"] = client_document(url, ["http://127.0.0.1/callback"])
        control.clear_requests()
        async with mcp_client(mcp_server, control, user["user_id"], version=version,
                              client_metadata_url=url) as client:
            result = await client.client.call_tool("list_github_repositories", {})
            assert not result.is_error and user["github"]["login"] + "/vault-agent-demo" in result.content[0].text
            assert client.storage.client.client_id == url
            [authorize] = client.authorize_urls
            assert dict(parse_qsl(urlsplit(authorize).query))["client_id"] == url
    assert not control.requests("auth0", "/oidc/register")


@pytest.mark.parametrize("version", VERSIONS)
async def test_registration_by_dcr(mcp_server, control, user, version):
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    control.clear_requests()
    async with mcp_client(mcp_server, control, user["user_id"], version=version) as client:
        assert not (await client.client.call_tool("list_github_repositories", {})).is_error
        assert client.storage.client.client_id.startswith("sbx-dcr-")
    assert len(control.requests("auth0", "/oidc/register")) == 1


@pytest.mark.parametrize("version", VERSIONS)
async def test_dns_rebinding_host_and_origin_are_refused(mcp_server, control, user, version):
    """A page on another site that resolves its name to 127.0.0.1 cannot talk to the server: a foreign Host
    or Origin is refused before anything else, on either protocol version."""
    async with mcp_client(mcp_server, control, user["user_id"], version=STATELESS) as client:
        await client.client.list_tools()
        token = client.storage.tokens.access_token
    meta = {"io.modelcontextprotocol/protocolVersion": version,
            "io.modelcontextprotocol/clientInfo": {"name": "page", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}}
    body = ({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}} if version == STATELESS else
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "page", "version": "1"}}})
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": version, "Mcp-Method": body["method"]}
    ok = httpx.post(mcp_server["mcp"], json=body, headers=headers, timeout=30)
    assert ok.status_code == 200, ok.text
    for bad in ({"Host": "evil.example"}, {"Origin": "http://evil.example"}):
        refused = httpx.post(mcp_server["mcp"], json=body, headers={**headers, **bad}, timeout=30)
        assert refused.status_code in (403, 421), (bad, refused.status_code, refused.text)


async def test_protocol_2025_06_18_client_gets_the_link_in_text(mcp_server, control, user):
    """A client on 2025-06-18 (before URL elicitation existed; its `elicitation: {}` means forms), over plain
    HTTP: initialize, then the call — the link comes in the tool's text, never as -32042."""
    token = control.session(user["user_id"], audience=mcp_server["mcp"])["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        init = await http.post(mcp_server["mcp"], json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {"elicitation": {}},
            "clientInfo": {"name": "old-client", "version": "1"}}})
        assert init.status_code == 200, init.text
        session = {"mcp-session-id": init.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        assert "2025-06-18" in init.text
        await http.post(mcp_server["mcp"], json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                        headers=session)
        call = await http.post(mcp_server["mcp"], headers=session, json={
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "list_github_repositories", "arguments": {}}})
    assert call.status_code == 200, call.text
    assert "-32042" not in call.text and mcp_server["url"] + "/link/" in call.text and '"isError":true' in call.text

"""AUTH0_LINK_MODE=connected_accounts on both engines (Aegra: two processes, the browser on the second)
with a client that sends only its bearer token: the pause's link is the server's page, whose sign-in
mints a My Account API token (audience `<tenant>/me/`) right then; the agent's connect flow starts with
it, the server's callback completes it (with that token, kept sealed with the pending request) and
resumes the thread."""

from __future__ import annotations

import httpx
import pytest
from server_helpers import aegra_available, client_for, messages, pause, wait_idle

from sandbox.aegra import Aegra
from sandbox.langgraph_dev import LangGraphDev

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module", params=["langgraph-dev", "aegra"])
def connected_server(request, sandbox, tmp_path_factory, new_database):
    env = dict(sandbox.env, VAULT_AGENT_TIMEZONE="UTC", AUTH0_LINK_MODE="connected_accounts")
    if request.param == "langgraph-dev":
        with LangGraphDev(env, workdir=tmp_path_factory.mktemp("langgraph-connected")) as server:
            yield {"url": server.url, "public_url": server.url}
        return
    aegra_available()
    with new_database() as database_url, Aegra(env, tmp_path_factory.mktemp("aegra-connected"), database_url,
                                               processes=2) as aegra:
        yield {"url": aegra.url, "public_url": aegra.urls[1]}


async def test_connect_then_server_callback_resumes(connected_server, sandbox, control, user):
    client, _ = client_for(connected_server, control, user)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    assert request["authorize_url"] == f"{connected_server['public_url']}/link/{request['state']}"

    redirect = control.authorize(request["authorize_url"], user["user_id"])  # sign-in, connect, consent
    assert "connect_code=" in redirect
    page = httpx.get(redirect, timeout=60)
    assert page.status_code == 200 and "<title>Access granted</title>" in page.text
    await wait_idle(client, thread["thread_id"])
    assert "Team standup" in (await messages(client, thread["thread_id"]))[-1]["content"]
    assert [t["connection"] for t in control.tokensets(user["user_id"])] == ["google-oauth2"]
    assert any(r["path"].endswith("/connected-accounts/complete") for r in control.requests("auth0"))


async def test_deny_at_the_connect_consent_is_declined(connected_server, control, user):
    client, _ = client_for(connected_server, control, user)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    page = httpx.get(control.authorize(request["authorize_url"], user["user_id"], action="deny"), timeout=60)
    assert page.status_code == 200 and "<title>Access declined</title>" in page.text
    await wait_idle(client, thread["thread_id"])
    assert "declined" in (await messages(client, thread["thread_id"]))[-1]["content"]

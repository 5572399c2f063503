"""AUTH0_LINK_MODE=connected_accounts on `langgraph dev`: the client sends a My Account API token in
X-My-Account-Token; the agent opens a Connected Accounts connect flow with it, the server's callback
completes it (with the token from the pending request's envelope) and resumes the thread."""

from __future__ import annotations

import httpx
import pytest
from server_helpers import client_for, messages, pause, wait_idle

from sandbox.langgraph_dev import LangGraphDev

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def connected_server(sandbox, tmp_path_factory):
    env = dict(sandbox.env, VAULT_AGENT_TIMEZONE="UTC", AUTH0_LINK_MODE="connected_accounts")
    with LangGraphDev(env, workdir=tmp_path_factory.mktemp("langgraph-connected")) as server:
        yield {"url": server.url, "workdir": server.workdir}


async def test_connect_then_server_callback_resumes(connected_server, sandbox, control, user):
    client, _ = client_for(connected_server, control, user, id_token=False,
                           my_account_audience=sandbox.env["AUTH0_DOMAIN"] + "/me/")
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    assert "/connected-accounts/connect" in request["authorize_url"]

    page = httpx.get(control.authorize(request["authorize_url"], user["user_id"]), timeout=60)
    assert page.status_code == 200 and "Access granted" in page.text
    await wait_idle(client, thread["thread_id"])
    assert "Team standup" in (await messages(client, thread["thread_id"]))[-1]["content"]
    assert [t["connection"] for t in control.tokensets(user["user_id"])] == ["google-oauth2"]


async def test_without_a_my_account_token_the_tool_names_the_header(connected_server, control, user):
    client, _ = client_for(connected_server, control, user)
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "agent",
                           input={"messages": [{"role": "user", "content": "What's on my calendar tomorrow?"}]})
    state = await client.threads.get_state(thread["thread_id"])
    assert not state["interrupts"]
    assert any("X-My-Account-Token" in str(m["content"]) for m in state["values"]["messages"] if m["type"] == "tool")


async def test_a_my_account_token_of_another_user_is_refused(connected_server, sandbox, control, user):
    other = control.create_user()
    mine = control.session(user["user_id"], audience="https://vault-agent.sandbox/api")
    theirs = control.session(other["user_id"], scope="create:me:connected_accounts",
                             audience=sandbox.env["AUTH0_DOMAIN"] + "/me/")
    response = httpx.post(connected_server["url"] + "/threads", json={},
                          headers={"Authorization": f"Bearer {mine['access_token']}",
                                   "X-My-Account-Token": theirs["access_token"]})
    assert response.status_code == 401 and "another user" in response.text

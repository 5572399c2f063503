"""The server's link page with a client that sends only `Authorization`: opening the link signs the
user in at the tenant, refuses another account, mints the `id_token_hint` right then — so a pause
older than the hint's ten minutes still works — and a hint the tenant refuses is never the user's Deny."""

from __future__ import annotations

import asyncio

import httpx
from server_helpers import client_for, messages, open_link_as, pause, title, wait_idle


def _tool_results(msgs: list[dict]) -> str:
    return "\n".join(str(m["content"]) for m in msgs if m["type"] == "tool")


async def test_another_account_gets_wrong_account_and_the_owner_still_can(engine_server, sandbox, control, user):
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    intruder = control.create_user()
    auth0 = sandbox.env["AUTH0_DOMAIN"]
    page = await asyncio.to_thread(open_link_as, request["authorize_url"], control, auth0, intruder["user_id"])
    assert page.status_code == 403 and title(page) == "Wrong account"
    assert (await client.threads.get(thread["thread_id"]))["status"] == "interrupted"
    assert not control.tokensets(intruder["user_id"]) and not control.tokensets(user["user_id"])

    page = await asyncio.to_thread(open_link_as, request["authorize_url"], control, auth0, user["user_id"])
    assert page.status_code == 200 and title(page) == "Access granted"
    # The way back opens this conversation in the app (VAULT_AGENT_APP_URL with `{thread_id}`).
    assert f"href='http://app.example/?threadId={thread['thread_id']}'" in page.text
    await wait_idle(client, thread["thread_id"])
    assert "Team standup" in (await messages(client, thread["thread_id"]))[-1]["content"]


async def test_a_pause_older_than_the_hints_life_still_works(engine_server, control, user):
    """The tenant refuses an id_token_hint older than its limit when the user opens the link (ten
    minutes; shortened here to two seconds). Any token from the time of the pause is too old by then;
    the link page mints a fresh hint, so the click works."""
    client, session = client_for(engine_server, control, user)
    thread = await client.threads.create()
    control.configure(id_token_hint_max_age=2)
    try:
        request = await pause(client, thread["thread_id"])
        await asyncio.sleep(3)  # the client's tokens are now "older than ten minutes" for the tenant
        page = httpx.get(control.authorize(request["authorize_url"], user["user_id"]), timeout=60)
    finally:
        control.configure(id_token_hint_max_age=600)
    assert page.status_code == 200 and title(page) == "Access granted"
    await wait_idle(client, thread["thread_id"])
    assert "Team standup" in (await messages(client, thread["thread_id"]))[-1]["content"]


async def test_a_hint_the_tenant_refuses_is_not_a_decline(engine_server, control, user):
    """Should the tenant refuse even a fresh hint, the page says Auth0 refused (400, not "declined"), and
    the thread is given a fresh link instead of the declined sentence."""
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    control.configure(id_token_hint_max_age=-60)
    try:
        redirect = control.authorize(request["authorize_url"], user["user_id"])
    finally:
        control.configure(id_token_hint_max_age=600)
    assert "error=access_denied" in redirect and "ID_TOKEN_HINT" in redirect
    page = httpx.get(redirect, timeout=60)
    assert page.status_code == 400 and title(page) == "Auth0 refused the request"
    assert "declined" not in page.text.lower()
    await wait_idle(client, thread["thread_id"])
    state = await client.threads.get_state(thread["thread_id"])
    [again] = state["interrupts"]  # paused again, with a fresh link
    assert again["value"]["state"] != request["state"]
    assert "declined" not in _tool_results(state["values"]["messages"])
    page = httpx.get(control.authorize(again["value"]["authorize_url"], user["user_id"]), timeout=60)
    assert page.status_code == 200 and title(page) == "Access granted"
    await wait_idle(client, thread["thread_id"])
    assert "Team standup" in (await messages(client, thread["thread_id"]))[-1]["content"]

"""The server's callback resumes the paused thread by itself for every answer, as the thread's owner,
without any token from the browser; and what a run cannot do becomes a sentence, never a crash."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import httpx
from server_helpers import client_for, messages, pause, persisted_text, wait_idle


def _tool_results(msgs: list[dict]) -> str:
    return "\n".join(str(m["content"]) for m in msgs if m["type"] == "tool")


async def test_deny_finishes_the_thread_by_itself(engine_server, control, user):
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])

    redirect = control.authorize(request["authorize_url"], user["user_id"], action="deny")
    page = httpx.get(redirect, timeout=60)  # the browser, with no token of any kind
    assert page.status_code == 200 and "<title>Access declined</title>" in page.text

    assert (await wait_idle(client, thread["thread_id"]))["status"] == "idle"
    msgs = await messages(client, thread["thread_id"])
    assert "declined access to Google Calendar" in _tool_results(msgs)
    assert msgs[-1]["type"] == "ai" and "declined" in msgs[-1]["content"]


async def test_a_bearer_only_client_gets_the_servers_link_page(engine_server, control, user):
    """No X-Id-Token: the pause's link is the server's own page, which signs the user in when opened.
    A header an older client still sends is ignored, whatever it holds."""
    client, _ = client_for(engine_server, control, user, **{"X-Id-Token": "not-even-a-jwt"})
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    assert request["authorize_url"] == f"{engine_server['callback_url']}/link/{request['state']}"
    assert "id_token_hint" not in request["authorize_url"]
    life = datetime.fromisoformat(request["expires_at"].replace("Z", "+00:00")) - datetime.now(timezone.utc)
    assert life > timedelta(hours=1)  # the page's life: it mints what it needs when opened

    page = httpx.get(control.authorize(request["authorize_url"], user["user_id"]), timeout=60)
    assert page.status_code == 200 and "<title>Access granted</title>" in page.text
    assert (await wait_idle(client, thread["thread_id"]))["status"] == "idle"
    assert "Team standup" in (await messages(client, thread["thread_id"]))[-1]["content"]


async def test_a_token_that_expired_while_waiting_is_replaced_at_click_time(engine_server, control, user):
    """The access token the run carries expires while the thread waits for the user. Opening the link
    signs the user in, which mints a fresh one: after Allow the thread carries on with it and answers."""
    control.configure(access_token_ttl=10)
    try:
        client, session = client_for(engine_server, control, user)
    finally:
        control.configure(access_token_ttl=86400)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    expires_at = _exp(session["access_token"])
    await asyncio.sleep(max(0.0, expires_at - time.time() + 1))

    redirect = control.authorize(request["authorize_url"], user["user_id"])
    assert httpx.get(redirect, timeout=60).status_code == 200
    owner, _ = client_for(engine_server, control, user)
    await wait_idle(owner, thread["thread_id"])
    assert "Team standup" in (await messages(owner, thread["thread_id"]))[-1]["content"]


def _exp(token: str) -> float:
    import base64
    import json

    payload = token.split(".")[1]
    return float(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])


async def test_unknown_configurable_and_context_keys_are_ignored(engine_server, control, user):
    control.seed_tokenset(user["user_id"], "google-oauth2",
                          ["https://www.googleapis.com/auth/calendar.readonly"])
    client, _ = client_for(engine_server, control, user)
    ask = {"messages": [{"role": "user", "content": "What's on my calendar tomorrow?"}]}
    for kwargs in ({"config": {"configurable": {"foo": 1, "services": "x", "user": {"sub": "someone"}}}},
                   {"context": {"foo": 1, "timezone": "Mars/Phobos", "user": "someone-else"}}):
        thread = await client.threads.create()
        await client.runs.wait(thread["thread_id"], "agent", input=ask, **kwargs)
        assert (await client.threads.get(thread["thread_id"]))["status"] == "idle"
        assert "Team standup" in (await messages(client, thread["thread_id"]))[-1]["content"]


async def test_nothing_the_server_persists_holds_a_token(engine_server, control, user):
    """Runs (their auth user and config), checkpoints, threads, store rows (Aegra: every table of its
    database) and the server's log: no
    access or refresh token in plaintext, and the ID token only inside the link URL — a full pause and
    resume included."""
    client, session = client_for(engine_server, control, user)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    assert httpx.get(control.authorize(request["authorize_url"], user["user_id"]), timeout=60).status_code == 200
    await wait_idle(client, thread["thread_id"])
    assert "Team standup" in (await messages(client, thread["thread_id"]))[-1]["content"]

    runs = await client.runs.list(thread["thread_id"])
    assert len(runs) == 2  # the client's run and the callback's resume
    seen = repr(runs) + repr(await client.threads.get_history(thread["thread_id"])) + repr(
        await client.threads.get(thread["thread_id"]))
    if engine_server["engine"] == "langgraph-dev":
        await asyncio.sleep(11)  # the dev server flushes its pickles every 10 s
    seen += persisted_text(engine_server["workdir"], engine_server.get("database_url"))  # Aegra: every table
    log = engine_server["log"].read_text(errors="replace")
    for secret in (session["access_token"], session["refresh_token"]):
        assert secret not in seen and secret not in log
    assert session["access_token"].split(".")[1] not in seen + log  # not even the JWT's claims part
    # No ID token reaches the server at all: the link page's sign-in mints the id_token_hint when the
    # user opens it, and it goes to the browser only (a redirect), never to runs, checkpoints or the store.
    assert session["id_token"] not in seen + log and "id_token_hint=" not in seen


CODE_EXCHANGE = dict(service="auth0", path="/oauth/token$", grant_type="authorization_code")


async def test_auth0_outage_after_allow_carries_on_and_a_reload_finishes(engine_server, control, user):
    """Auth0 cannot finish the code exchange after Allow: the page asks for a reload (503), but the thread
    does not wait for it — it carries on at once (the user allowed; Token Vault confirms). The reload
    later finishes the link and resumes nothing twice."""
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    redirect = control.authorize(request["authorize_url"], user["user_id"])
    control.add_fault(**CODE_EXCHANGE, kind="status", status=503)
    try:
        page = httpx.get(redirect, timeout=60)
    finally:
        control.clear_faults()
    assert page.status_code == 503 and "<title>Please try again</title>" in page.text
    assert "Reload this page" in page.text
    assert (await wait_idle(client, thread["thread_id"]))["status"] == "idle"  # nobody reloaded
    assert "Team standup" in (await messages(client, thread["thread_id"]))[-1]["content"]

    reload = httpx.get(redirect, timeout=60)
    assert reload.status_code == 200 and "<title>Access granted</title>" in reload.text
    assert len(await client.runs.list(thread["thread_id"])) == 2  # the client's run and one resume


async def test_a_retryable_error_from_the_tenant_keeps_the_link(engine_server, control, user):
    """`error=server_error` / `temporarily_unavailable` with a valid state is Auth0's trouble, not an
    answer: the state stays, the thread stays paused, and opening the link again works."""
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    for error in ("server_error", "temporarily_unavailable"):
        page = httpx.get(engine_server["callback_url"] + "/auth/callback", timeout=60,
                         params={"state": request["state"], "error": error, "error_description": "hiccup"})
        assert page.status_code == 503 and "<title>Please try again</title>" in page.text
    assert (await client.threads.get(thread["thread_id"]))["status"] == "interrupted"
    page = httpx.get(control.authorize(request["authorize_url"], user["user_id"]), timeout=60)
    assert page.status_code == 200 and "<title>Access granted</title>" in page.text
    await wait_idle(client, thread["thread_id"])
    assert "Team standup" in (await messages(client, thread["thread_id"]))[-1]["content"]


async def test_after_a_lost_exchange_answer_the_reload_says_granted(engine_server, control, user):
    """The first exchange is done by Auth0 but its answer is lost, the retries then fail: the reload
    finds the code spent — the link succeeded, so the page says so (never "log in again")."""
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    redirect = control.authorize(request["authorize_url"], user["user_id"])
    control.add_fault(**CODE_EXCHANGE, kind="drop_after", times=1)
    control.add_fault(**CODE_EXCHANGE, kind="status", status=503, times=2)
    try:
        first = httpx.get(redirect, timeout=60)
    finally:
        control.clear_faults()
    assert first.status_code == 503
    reload = httpx.get(redirect, timeout=60)
    assert reload.status_code == 200 and "<title>Access granted</title>" in reload.text
    assert "log in" not in reload.text.lower()
    await wait_idle(client, thread["thread_id"])
    assert "Team standup" in (await messages(client, thread["thread_id"]))[-1]["content"]


async def test_two_pauses_answered_back_to_back_both_resume(engine_server, control, user):
    """One message needs Google and GitHub: two links at once. The user answers both right away (the
    second while the first resume is still running): the thread finishes with both results."""
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "agent", input={"messages": [
        {"role": "user", "content": "What's on my calendar tomorrow and my GitHub repositories?"}]})
    state = await client.threads.get_state(thread["thread_id"])
    urls = sorted(i["value"]["authorize_url"] for i in state["interrupts"])
    assert len(urls) == 2
    redirects = [control.authorize(url, user["user_id"]) for url in urls]
    async with httpx.AsyncClient(timeout=120) as browser:
        pages = await asyncio.gather(*(browser.get(r) for r in redirects))
    assert [p.status_code for p in pages] == [200, 200]
    for _ in range(150):
        await wait_idle(client, thread["thread_id"])
        state = await client.threads.get_state(thread["thread_id"])
        if not state["interrupts"]:
            break
        await asyncio.sleep(0.2)
    answer = state["values"]["messages"][-1]["content"]
    assert not state["interrupts"] and "Team standup" in answer and "vault-agent-demo" in answer


async def test_reissue_gives_a_fresh_link_and_a_foreign_answer_never_authorizes(engine_server, control, user):
    """A client holding a dead link resumes with "reissue" and gets a live one; an answer carrying another
    request's state is treated the same way — it can never authorize this pause."""
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    first = await pause(client, thread["thread_id"])
    [interrupt] = (await client.threads.get_state(thread["thread_id"]))["interrupts"]

    await client.runs.wait(thread["thread_id"], "agent",
                           command={"resume": {interrupt["id"]: {"state": first["state"], "status": "reissue"}}})
    [again] = (await client.threads.get_state(thread["thread_id"]))["interrupts"]
    assert again["value"]["state"] != first["state"] and again["value"]["authorize_url"]

    forged = {"state": "not-this-request", "status": "authorized"}
    await client.runs.wait(thread["thread_id"], "agent", command={"resume": {again["id"]: forged}})
    [third] = (await client.threads.get_state(thread["thread_id"]))["interrupts"]
    assert third["value"]["state"] not in (first["state"], again["value"]["state"])
    assert not any(t["connection"] == "google-oauth2" for t in control.tokensets(user["user_id"]))

    # The live link still works end to end.
    assert httpx.get(control.authorize(third["value"]["authorize_url"], user["user_id"]), timeout=60).status_code == 200
    assert (await wait_idle(client, thread["thread_id"]))["status"] == "idle"
    assert "Team standup" in (await messages(client, thread["thread_id"]))[-1]["content"]

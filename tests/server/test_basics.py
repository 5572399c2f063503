"""The server on both engines: authenticated SDK use, the interrupt streamed, the server's own callback
resuming the thread (the client never resumes it), forged callbacks; and the hardening of `make server`
(`langgraph dev`)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from langgraph_sdk.errors import NotFoundError
from server_helpers import client_for, persisted_text, wait_idle


async def test_unauthenticated_requests_are_refused(engine_server):
    response = httpx.post(engine_server["url"] + "/threads", json={})
    assert response.status_code in (401, 403)
    bad = httpx.post(engine_server["url"] + "/threads", json={}, headers={"Authorization": "Bearer nope"})
    assert bad.status_code in (401, 403)


async def test_interrupt_then_server_callback_resumes_the_thread(engine_server, sandbox, control, user):
    client, session = client_for(engine_server, control, user)
    thread = await client.threads.create()
    interrupts = []
    async for part in client.runs.stream(thread["thread_id"], "agent", stream_mode="updates",
                                         input={"messages": [{"role": "user",
                                                              "content": "What's on my calendar tomorrow?"}]}):
        if part.event == "updates" and "__interrupt__" in (part.data or {}):
            interrupts.extend(part.data["__interrupt__"])
    [interrupt] = interrupts
    payload = interrupt["value"]
    assert payload["connection"] == "google-oauth2" and payload["type"] == "auth0/authorization_required"

    redirect = control.authorize(payload["authorize_url"], user["user_id"])
    assert redirect.startswith(engine_server["callback_url"] + "/auth/callback")
    page = httpx.get(redirect, timeout=60)  # the browser landing on the server's callback route
    assert page.status_code == 200 and "<title>Access granted</title>" in page.text

    await wait_idle(client, thread["thread_id"])
    state = await client.threads.get_state(thread["thread_id"])
    answer = state["values"]["messages"][-1]["content"]
    assert "Team standup" in answer and "Design review with Priya" in answer

    # No access or refresh token in the checkpoints or anything the server persisted.
    history = await client.threads.get_history(thread["thread_id"])
    persisted = repr(history)
    persisted += persisted_text(engine_server["workdir"], engine_server.get("database_url"))
    for secret in (session["access_token"], session["refresh_token"]):
        assert secret not in persisted


async def test_other_user_cannot_read_or_resume_a_thread(engine_server, control, user):
    owner, _ = client_for(engine_server, control, user)
    thread = await owner.threads.create()
    intruder, _ = client_for(engine_server, control, control.create_user())
    with pytest.raises(NotFoundError):
        await intruder.threads.get_state(thread["thread_id"])
    with pytest.raises(NotFoundError):
        await intruder.runs.create(thread["thread_id"], "agent", input={"messages": []})
    assert await owner.threads.get_state(thread["thread_id"]) is not None


async def test_forged_callback_gets_an_error_page(engine_server):
    page = httpx.get(engine_server["callback_url"] + "/auth/callback",
                     params={"state": "forged", "code": "x", "redirect": "https://evil.example"})
    assert page.status_code == 400 and "unknown" in page.text and "location" not in page.headers
    page = httpx.get(engine_server["callback_url"] + "/auth/callback", params={"state": "<script>", "code": "x" * 20000})
    assert page.status_code == 400 and "<script>" not in page.text


async def test_make_server_is_hardened(langgraph_server, control, user):
    """`/internal/*` (unauthenticated truncate and debug routes of langgraph dev) is refused, and the
    state folder holding pending requests and sealed envelopes is private."""
    url = langgraph_server["url"]
    client, _ = client_for(langgraph_server, control, user)
    thread = await client.threads.create()
    for method, path in (("POST", "/internal/truncate"), ("GET", f"/internal/debug/thread/{thread['thread_id']}")):
        response = httpx.request(method, url + path, json={"runs": True, "threads": True} if method == "POST" else None)
        assert response.status_code == 404
    assert await client.threads.get(thread["thread_id"])  # nothing was truncated

    state = langgraph_server["workdir"] / ".langgraph_api"
    for _ in range(150):  # the dev server flushes its state every 10 s
        files = [p for p in state.rglob("*") if p.is_file()] if state.exists() else []
        if files:
            break
        await asyncio.sleep(0.1)
    assert files and state.stat().st_mode & 0o777 == 0o700
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(0o600)}

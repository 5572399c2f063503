"""Agent Chat UI's decisions on the real server: the requests are exactly the ones the UI sends (a
stream run with `input: {}` and `command: {"resume": {"decisions": [...]}}`, no interrupt id), and the
answer must be in the values that run streams — the UI shows those, and does not watch the thread for the
run our callback starts.

Approve means "carry on if the account is linked now, else stay paused with a live link"; Reject means
declined; the callback's resume and the UI's approve may come in either order and the question is
answered exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator
from langgraph_sdk.errors import BadRequestError
from server_helpers import client_for, messages, pause, wait_idle

APPROVE = {"decisions": [{"type": "approve"}]}
# The body Agent Chat UI posts to /threads/{id}/runs/stream when Approve or Submit rejection is pressed
# (recorded in the browser): {"input": {}, "command": {"resume": {"decisions": [...]}}, "stream_mode":
# ["messages-tuple", "values", "custom"], "stream_resumable": false, "assistant_id": "agent",
# "on_disconnect": "cancel"}.
STREAM_MODES = ["messages-tuple", "values", "custom"]
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "interrupt.schema.json").read_text())


async def ui_decision(client, thread_id: str, resume: dict) -> dict:
    """Press Approve/Reject in Agent Chat UI: the stream run it starts, and the last values it showed."""
    last: dict = {}
    async for part in client.runs.stream(thread_id, "agent", input={}, command={"resume": resume},
                                         stream_mode=STREAM_MODES, stream_resumable=False,
                                         on_disconnect="cancel"):
        assert part.event != "error", part.data
        if part.event == "values":
            last = part.data
    return last


async def late_decision(server: dict, client, thread_id: str, resume: dict) -> dict:
    """A decision pressed on a card whose question the callback already answered, and what the UI then shows.
    `langgraph dev` runs it (the graph has nothing left to ask and ends with what the thread holds); Aegra
    refuses to resume a thread that is not paused (400 "Cannot resume: thread is not in interrupted state",
    which the UI shows as an error) and the UI shows the thread's values when reloaded. Either way nothing
    is answered twice."""
    if server["engine"] == "aegra":
        with pytest.raises(BadRequestError, match="not in interrupted state"):
            await ui_decision(client, thread_id, resume)
        return (await client.threads.get_state(thread_id))["values"]
    return await ui_decision(client, thread_id, resume)


def tool_replies(values: dict) -> list[dict]:
    return [m for m in values["messages"] if m["type"] == "tool"]


async def test_approve_before_allow_stays_paused_with_the_same_live_link(engine_server, control, user):
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    first = await pause(client, thread["thread_id"])
    Draft202012Validator(SCHEMA).validate(first)  # the published contract, as the server serves it

    shown = await ui_decision(client, thread["thread_id"], APPROVE)
    [again] = (await client.threads.get_state(thread["thread_id"]))["interrupts"]
    assert (again["value"]["state"], again["value"]["authorize_url"]) == (first["state"], first["authorize_url"])
    assert [i["value"]["state"] for i in shown["__interrupt__"]] == [first["state"]]  # the UI draws the card again
    assert not tool_replies(shown)

    # The same link still works, and the callback's resume answers the question once.
    assert httpx.get(control.authorize(again["value"]["authorize_url"], user["user_id"]), timeout=60).status_code == 200
    assert (await wait_idle(client, thread["thread_id"]))["status"] == "idle"
    values = (await client.threads.get_state(thread["thread_id"]))["values"]
    [reply] = tool_replies(values)
    assert "Team standup" in reply["content"] and "Team standup" in values["messages"][-1]["content"]


async def test_approve_after_allow_answers_once_and_the_callback_adds_nothing(engine_server, control, user):
    """The user allowed at the tenant; the UI's approve arrives before the browser reaches our callback."""
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    redirect = control.authorize(request["authorize_url"], user["user_id"])  # Allow: the account is linked

    shown = await ui_decision(client, thread["thread_id"], APPROVE)
    assert "__interrupt__" not in shown or not shown["__interrupt__"]
    assert "Team standup" in shown["messages"][-1]["content"]

    assert httpx.get(redirect, timeout=60).status_code == 200  # the callback arrives late: nothing to resume
    assert (await wait_idle(client, thread["thread_id"]))["status"] == "idle"
    values = (await client.threads.get_state(thread["thread_id"]))["values"]
    assert len(tool_replies(values)) == 1 and values["messages"] == shown["messages"]
    assert len(await client.runs.list(thread["thread_id"])) == 2  # the question and the approve


async def test_callback_first_then_approve_shows_the_answer_in_the_approve_run(engine_server, control, user):
    """The callback resumed the thread (the UI did not see it); then the user presses Approve on the
    card it still shows: that run ends with the answer in its values, and nothing runs twice."""
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    assert httpx.get(control.authorize(request["authorize_url"], user["user_id"]), timeout=60).status_code == 200
    await wait_idle(client, thread["thread_id"])
    answered = await messages(client, thread["thread_id"])

    shown = await late_decision(engine_server, client, thread["thread_id"], APPROVE)
    assert shown["messages"] == answered and "Team standup" in shown["messages"][-1]["content"]
    assert not shown.get("__interrupt__")
    state = await client.threads.get_state(thread["thread_id"])
    assert not state["interrupts"] and state["values"]["messages"] == answered
    assert (await client.threads.get(thread["thread_id"]))["status"] == "idle"


async def test_reject_is_the_declined_sentence(engine_server, control, user):
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    await pause(client, thread["thread_id"])

    shown = await ui_decision(client, thread["thread_id"],
                              {"decisions": [{"type": "reject", "message": "Not now, thanks."}]})
    [reply] = tool_replies(shown)
    assert "declined access to Google Calendar" in reply["content"] and "Not now, thanks." in reply["content"]
    assert "declined" in shown["messages"][-1]["content"] and not shown.get("__interrupt__")
    assert not any(t["connection"] == "google-oauth2" for t in control.tokensets(user["user_id"]))


async def test_deny_then_approve_shows_the_declined_sentence_once(engine_server, control, user):
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    redirect = control.authorize(request["authorize_url"], user["user_id"], action="deny")
    assert httpx.get(redirect, timeout=60).status_code == 200
    await wait_idle(client, thread["thread_id"])

    shown = await late_decision(engine_server, client, thread["thread_id"], APPROVE)
    [reply] = tool_replies(shown)
    assert "declined access to Google Calendar" in reply["content"]
    assert [m["type"] for m in shown["messages"]] == ["human", "ai", "tool", "ai"]
    assert "declined" in shown["messages"][-1]["content"] and not shown.get("__interrupt__")


async def test_a_stale_decision_never_answers_the_next_question(engine_server, control, user):
    """Reject pressed on a card whose question the callback already answered: nothing changes, and the
    next question that needs an account still asks (the stale decision does not answer it)."""
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    request = await pause(client, thread["thread_id"])
    assert httpx.get(control.authorize(request["authorize_url"], user["user_id"]), timeout=60).status_code == 200
    await wait_idle(client, thread["thread_id"])
    answered = await messages(client, thread["thread_id"])

    shown = await late_decision(engine_server, client, thread["thread_id"],
                                {"decisions": [{"type": "reject", "message": "late"}]})
    assert shown["messages"] == answered

    github = await pause(client, thread["thread_id"],
                         {"messages": [{"role": "user", "content": "List my GitHub repositories"}]})
    assert github["connection"] == "github"


async def test_two_accounts_at_once_the_ui_resume_is_refused_and_link_then_reject_finishes(engine_server,
                                                                                          control, user):
    """README › Agent Chat UI, *Limit*: two pauses at once. The UI's resume names no interrupt, so LangGraph
    refuses it; answering one link then resumes that interrupt by its id, and the UI's Reject reaches the one
    left: the thread finishes with what ran and the declined sentence. On Aegra the refused resume is a failed
    run ("execution failed") and Aegra resumes no failed thread, so the link's page says to go back to the
    app (the account is linked all the same), and the next message there runs the unanswered calls again."""
    client, _ = client_for(engine_server, control, user)
    thread = await client.threads.create()
    ask = {"messages": [{"role": "user", "content": "What's on my calendar tomorrow and list my GitHub repos"}]}
    await client.runs.wait(thread["thread_id"], "agent", input=ask)
    pending = (await client.threads.get_state(thread["thread_id"]))["interrupts"]
    assert sorted(i["value"]["connection"] for i in pending) == ["github", "google-oauth2"]

    errors = [part.data async for part in client.runs.stream(
        thread["thread_id"], "agent", input={}, command={"resume": APPROVE}, stream_mode=STREAM_MODES,
        stream_resumable=False, on_disconnect="cancel") if part.event == "error"]
    on_aegra = engine_server["engine"] == "aegra"
    assert errors and ("execution failed" if on_aegra else "multiple pending interrupts") in json.dumps(errors)
    assert len((await client.threads.get_state(thread["thread_id"]))["interrupts"]) == 2  # nothing answered

    [github] = [i["value"] for i in pending if i["value"]["connection"] == "github"]
    page = httpx.get(control.authorize(github["authorize_url"], user["user_id"]), timeout=60)
    if on_aegra:
        assert page.status_code == 502 and "go back to the app and ask again" in page.text
        assert any(t["connection"] == "github" for t in control.tokensets(user["user_id"]))
        await client.runs.wait(thread["thread_id"], "agent",
                               input={"messages": [{"role": "user", "content": "Go on"}]})
    else:
        assert page.status_code == 200
    await wait_idle(client, thread["thread_id"])
    [left] = (await client.threads.get_state(thread["thread_id"]))["interrupts"]
    assert left["value"]["connection"] == "google-oauth2"

    shown = await ui_decision(client, thread["thread_id"], {"decisions": [{"type": "reject", "message": "Later."}]})
    replies = " ".join(m["content"] for m in tool_replies(shown))
    assert "vault-agent-demo" in replies and "declined access to Google Calendar" in replies
    assert not shown.get("__interrupt__") and not (await client.threads.get_state(thread["thread_id"]))["interrupts"]

"""Runs cut off in the middle of a tool, and messages that arrive while a tool call is unsettled — through
the real graph on a SQLite checkpointer against the sandbox, side effects counted in its provider data.

- A process killed (SIGKILL) while its Calendar insert is in flight, in a run that never paused: the
  thread shows as interrupted, and both `reopen` (what `resume` runs) and a new message finish it with
  exactly one event; the history never holds an AI tool call without its reply.
- A new message while a pause waits, with and without Agent Chat UI's made-up tool reply: the pause is
  kept (same link), and after Allow the first question is answered, then the new one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from faultkit import CAL_WRITE, EVENTS_PATH, agent_session, events_titled, new_thread, run
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agent.persistence import INTERRUPTED, RUNNING, interrupted_status
from agent.session_runner import Final

TOKEN_EXCHANGE = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"
UI_REPLY = "Successfully handled tool call."


async def history(session, thread: str) -> dict:
    return (await session.graph.aget_state(session.config(thread))).values


def assert_every_call_answered(messages) -> None:
    """Each AI tool call is directly followed by its real reply (what OpenAI requires), none made up."""
    for index, message in enumerate(messages):
        if isinstance(message, AIMessage) and message.tool_calls:
            replies = messages[index + 1: index + 1 + len(message.tool_calls)]
            assert all(isinstance(r, ToolMessage) for r in replies), messages
            assert {r.tool_call_id for r in replies} == {c["id"] for c in message.tool_calls}, messages
    assert not [m for m in messages if str(m.id).startswith("do-not-render-") or m.content == UI_REPLY]


def _exchanges(control) -> int:
    return sum(1 for r in control.requests("auth0", "^/oauth/token$")
               if r["form"].get("grant_type") == TOKEN_EXCHANGE and r["status"] == 200)


async def _until(predicate, what: str, attempts: int = 400) -> None:
    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def killed_mid_insert(sandbox, control, user, settings, thread: str, title: str) -> None:
    """Run the question in a separate process, and SIGKILL it while Google holds the insert (3 s)."""
    session = control.session(user["user_id"])
    env = {**os.environ, **sandbox.env, "VAULT_AGENT_DB_URL": settings.vault_agent_db_url,
           "VAULT_AGENT_STATE_DIR": str(settings.vault_agent_state_dir), "VAULT_AGENT_TIMEZONE": "UTC",
           "AUTH0_CALLBACK_URL": "http://127.0.0.1:8765/callback", "TEST_USER_SUB": user["user_id"],
           "TEST_USER_ID_TOKEN": session["id_token"], "TEST_USER_REFRESH_TOKEN": session["refresh_token"]}
    control.add_fault("google", EVENTS_PATH, "latency", method="POST", delay_ms=3000, times=1)
    worker = subprocess.Popen([sys.executable, str(Path(__file__).with_name("mid_tool_worker.py")), thread,
                               f'Create an event "{title}" tomorrow at 3pm'], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=str(Path(__file__).parents[2]))
    try:
        await _until(lambda: _exchanges(control) >= 1, "the tool got its Google token")
        await asyncio.sleep(0.5)  # the insert now waits in the sandbox's latency
        worker.send_signal(signal.SIGKILL)
        out, err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert "DONE" not in out, out + err
    # What the killed process sent still lands: the crash came after Google accepted the insert.
    await _until(lambda: len(events_titled(control, user, title)) == 1, "the in-flight insert landed")


@pytest.mark.parametrize("how", ["reopen", "new message"])
async def test_sigkill_mid_write_then_finish_writes_once(sandbox, sqlite_settings, control, user, how):
    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL_WRITE])  # linked: this run never pauses
    thread, title = new_thread(), f"Killed {uuid.uuid4().hex[:6]}"
    await killed_mid_insert(sandbox, control, user, sqlite_settings, thread, title)

    async with agent_session(sqlite_settings, control, user) as session:
        assert await session.unfinished(thread) and not await session.pending(thread)
        assert [row["status"] for row in await session.threads()] == [INTERRUPTED]
        if how == "reopen":
            _, final = await run(session.reopen(thread))
            assert "Created event" in final and title in final
        else:
            _, final = await run(session.stream(thread, "hello"))
            assert "sandbox model" in final  # the new message is answered too, after the first question
        assert not await session.unfinished(thread)
        messages = (await history(session, thread))["messages"]
    assert len(events_titled(control, user, title)) == 1
    posts = [r for r in control.requests("google", EVENTS_PATH) if r["method"] == "POST"]
    assert sorted(r["status"] for r in posts) == [200, 409]  # the repeat was recognised by its event id
    assert_every_call_answered(messages)
    created = [m for m in messages if isinstance(m, ToolMessage)]
    assert len(created) == 1 and "Created event" in created[0].content
    if how == "new message":  # the first question's answer comes before the new message
        kinds = [type(m).__name__ for m in messages]
        assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage", "HumanMessage", "AIMessage"]
        assert title in messages[3].content and messages[4].content == "hello"


async def test_a_running_thread_is_not_reported_interrupted(sqlite_settings, control, user):
    """While a live process runs the thread (it holds the thread's lock), it is "running", not resumable."""
    async with agent_session(sqlite_settings, control, user) as session:
        thread = new_thread()
        async with session.persistence.thread_lock(thread):
            assert await interrupted_status(session.persistence.url, thread, RUNNING) == RUNNING
        assert await interrupted_status(session.persistence.url, thread, RUNNING) == INTERRUPTED


@pytest.mark.parametrize("ui_reply", [False, True], ids=["plain message", "agent-chat-ui reply"])
async def test_message_while_paused_keeps_the_pause_and_answers_both(sqlite_settings, control, user, ui_reply):
    title = f"Paused {uuid.uuid4().hex[:6]}"
    async with agent_session(sqlite_settings, control, user) as session:
        thread = new_thread()
        [pause], _ = await run(session.stream(thread, f'Create an event "{title}" tomorrow at 3pm'))
        if ui_reply:  # what Agent Chat UI sends: a made-up reply to every unanswered call, then the message
            [call] = (await history(session, thread))["messages"][-1].tool_calls
            made_up = ToolMessage(UI_REPLY, tool_call_id=call["id"], name=call["name"],
                                  id=f"do-not-render-{uuid.uuid4()}")
            events = session._run(thread, {"messages": [made_up, HumanMessage("hello")]})
        else:
            events = session.stream(thread, "hello")
        pauses, final = await run(events)
        assert [p.payload["state"] for p in pauses] == [pause.payload["state"]]  # the same pause, same link
        assert await session.linker.is_live(pause.payload["state"])
        values = await history(session, thread)
        assert [m.content for m in values["held"]] == ["hello"]
        assert values["messages"][-1].tool_calls and not events_titled(control, user, title)

        redirect = control.authorize(pause.payload["authorize_url"], user["user_id"])
        answers = [e.text async for e in session.complete_and_resume(redirect) if isinstance(e, Final)]
        assert answers and "sandbox model" in answers[-1]
        values = await history(session, thread)
    messages = values["messages"]
    assert_every_call_answered(messages)
    assert not values["held"]
    assert [type(m).__name__ for m in messages] == [
        "HumanMessage", "AIMessage", "ToolMessage", "AIMessage", "HumanMessage", "AIMessage"]
    assert "Created event" in messages[2].content and title in messages[3].content  # the first question answered
    assert messages[4].content == "hello"
    assert len(events_titled(control, user, title)) == 1

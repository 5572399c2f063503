"""Runs cut off in the middle of a tool, and messages that arrive while a tool call is unsettled — through
the real graph on a SQLite checkpointer against the sandbox, side effects counted in its provider data.

- A process killed (SIGKILL) while its Calendar insert (or GitHub issue) is in flight, in a run that never
  paused: the thread shows as interrupted, and both `reopen` (what `resume` runs) and a new message finish
  it with exactly one event (one issue); the history never holds an AI tool call without its reply.
- A new message while a pause waits, with and without Agent Chat UI's made-up tool reply: the pause is
  kept (same link), and after Allow the first question is answered, then the new one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
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


ISSUES_PATH = r"^/repos/[^/]+/[^/]+/issues$"


def issues_titled(control, user, title: str) -> list[dict]:
    return [i for i in control.provider_data(user["user_id"])["issues"]["vault-agent-demo"] if i["title"] == title]


async def killed_mid_write(sandbox, control, user, settings, thread: str, question: str, landed,
                           wait_for_landing: bool = True) -> None:
    """Run the question in a separate process, and SIGKILL it while the provider holds its write (3 s)."""
    session = control.session(user["user_id"])
    env = {**os.environ, **sandbox.env, "VAULT_AGENT_DB_URL": settings.vault_agent_db_url,
           "VAULT_AGENT_STATE_DIR": str(settings.vault_agent_state_dir), "VAULT_AGENT_TIMEZONE": "UTC",
           "AUTH0_CALLBACK_URL": "http://127.0.0.1:8765/callback", "TEST_USER_SUB": user["user_id"],
           "TEST_USER_ID_TOKEN": session["id_token"], "TEST_USER_REFRESH_TOKEN": session["refresh_token"]}
    held = {control.add_fault("google", EVENTS_PATH, "latency", method="POST", delay_ms=3000, times=1),
            control.add_fault("github", ISSUES_PATH, "latency", method="POST", delay_ms=3000, times=1)}
    worker = subprocess.Popen([sys.executable, str(Path(__file__).with_name("mid_tool_worker.py")), thread,
                               question], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=str(Path(__file__).parents[2]))
    try:  # a fault is used up when its request arrives: the write is then held by the provider
        await _until(lambda: len(held & {f["id"] for f in control._call("GET", "/faults")}) < 2,
                     "the write reached the provider")
        await asyncio.sleep(0.2)
        worker.send_signal(signal.SIGKILL)
        out, err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    control.clear_faults()
    assert "DONE" not in out, out + err
    if wait_for_landing:  # what the killed process sent still lands: the provider had accepted the write
        await _until(lambda: len(landed()) == 1, "the in-flight write landed")
    else:
        assert not landed()


async def killed_mid_insert(sandbox, control, user, settings, thread: str, title: str) -> None:
    await killed_mid_write(sandbox, control, user, settings, thread, f'Create an event "{title}" tomorrow at 3pm',
                           lambda: events_titled(control, user, title))


@pytest.mark.parametrize(("how", "backend"), [("reopen", "sqlite"), ("new message", "sqlite"),
                                              ("reopen", "postgres")])
async def test_sigkill_mid_write_then_finish_writes_once(sandbox, sqlite_settings, control, user, how, backend,
                                                         request):
    settings = sqlite_settings
    if backend == "postgres":  # the lock a dead process held is an advisory lock of its lost connection
        settings = settings.model_copy(update={"vault_agent_db_url": request.getfixturevalue("faults_postgres_url")})
    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL_WRITE])  # linked: this run never pauses
    thread, title = new_thread(), f"Killed {uuid.uuid4().hex[:6]}"
    await killed_mid_insert(sandbox, control, user, settings, thread, title)

    async with agent_session(settings, control, user) as session:
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


@pytest.mark.parametrize("landed", [True, False], ids=["after it landed", "while still in flight"])
async def test_sigkill_mid_issue_create_then_reopen_opens_one_issue(sandbox, sqlite_settings, control, user, landed):
    """GitHub has no idempotency key: the re-run finds the issue by its marker — and when the dead process's
    POST has not landed yet, it waits for it (as long as write_once would have) instead of posting again."""
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    thread, title = new_thread(), f"Killed {uuid.uuid4().hex[:6]}"
    question = f'Open an issue "{title}" in {user["github"]["login"]}/vault-agent-demo'
    await killed_mid_write(sandbox, control, user, sqlite_settings, thread, question,
                           lambda: issues_titled(control, user, title), wait_for_landing=landed)
    killed = time.monotonic()
    async with agent_session(sqlite_settings, control, user) as session:
        assert await session.unfinished(thread)
        _, final = await run(session.reopen(thread))
        messages = (await history(session, thread))["messages"]
    assert "Created issue" in final and title in final
    # Count only once the dead process's POST has had its 3 s in the sandbox: a second POST sent meanwhile
    # would show as a second issue by then.
    await _until(lambda: time.monotonic() > killed + 3.5, "the held POST's latency is over")
    assert len(issues_titled(control, user, title)) == 1  # found by its marker, not opened again
    assert len([r for r in control.requests("github", ISSUES_PATH) if r["method"] == "POST"]) == 1
    assert_every_call_answered(messages)


async def test_a_thread_that_died_after_its_last_step_is_not_offered_for_resuming(sqlite_settings, control, user):
    """Recorded "running" but with nothing left to do (the process died between its last checkpoint and
    recording "done"): shown as interrupted until looked at, then done — never a resume that does nothing."""
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    async with agent_session(sqlite_settings, control, user) as session:
        thread = new_thread()
        await run(session.stream(thread, "List my GitHub repositories"))
        await session._remember(thread, status=RUNNING)  # as if killed right after the last checkpoint
        assert [r["status"] for r in await session.threads()] == [INTERRUPTED]
        await session.settle_status(thread)
        assert [r["status"] for r in await session.threads()] == ["done"]


async def test_resume_of_a_thread_another_process_is_running_waits_for_it(sqlite_settings, control, user):
    """While a live process runs the thread, `resume` does not run it a second time: it waits for the
    thread's lock, then finds nothing left to do."""
    control.seed_tokenset(user["user_id"], "github", ["repo"])
    async with agent_session(sqlite_settings, control, user) as session:
        thread = new_thread()
        events = session.stream(thread, "List my GitHub repositories")
        first = await anext(events)  # the run holds the thread's lock from its start
        assert first is not None and await interrupted_status(session.persistence.url, thread, RUNNING) == RUNNING
        waiting = asyncio.ensure_future(run(session.reopen(thread)))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # blocked on the lock the running stream holds
        _, final = await run(events)
        assert "Repositories" in final or "vault-agent-demo" in final
        assert await waiting == ([], "")  # nothing was run twice
        assert [r["status"] for r in await session.threads()] == ["done"]

"""A write cut off in a run that never paused (the account was already linked), through the real
`vault-agent` in a pseudo-terminal: SIGKILL then `vault-agent threads` and `vault-agent resume`, and Ctrl-C
then the next question in the same chat. Exactly one event each time, and a history in which every AI
tool call has its reply."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sqlite3
import time
import uuid
from pathlib import Path

import pexpect
from faultkit import CAL_READ, CAL_WRITE, EVENTS_PATH, agent_session, events_titled
from test_fault_matrix_cli import PROMPT, _successful_exchanges, _until
from test_mid_tool import assert_every_call_answered


def _threads_in_store(term, user) -> list[str]:
    db = Path(term.env["VAULT_AGENT_STATE_DIR"]) / "threads.sqlite"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT key FROM store WHERE prefix = ?", ("vault_agent_threads." + user["user_id"],))
        return [key for (key,) in rows.fetchall()]


def _messages(term, settings, control, user, thread: str) -> list:
    db = settings.model_copy(update={"vault_agent_db_url": term.env["VAULT_AGENT_STATE_DIR"] + "/threads.sqlite"})

    async def read() -> list:
        async with agent_session(db, control, user) as session:
            assert not await session.unfinished(thread)
            return (await session.graph.aget_state(session.config(thread))).values["messages"]

    return asyncio.run(read())


def _write_in_flight(term, control, child, title: str) -> None:
    # Long enough that a loaded machine cannot finish the insert before the test acts on it (it waits for the
    # in-flight insert to land later, not for the whole delay).
    control.add_fault("google", EVENTS_PATH, "latency", method="POST", delay_ms=8000, times=1)
    child.sendline(f'Create an event "{title}" tomorrow at 3pm')
    child.expect("Creating a calendar event")
    _until(lambda: _successful_exchanges(control) >= 1, "the tool got its Google token")
    time.sleep(0.5)  # the insert now waits in the sandbox's 8-second latency


def _one_event_two_posts(control, user, title: str) -> None:
    assert len(events_titled(control, user, title)) == 1
    posts = [r for r in control.requests("google", EVENTS_PATH) if r["method"] == "POST"]
    assert sorted(r["status"] for r in posts) == [200, 409]  # the repeat was recognised by its event id


def test_sigkill_mid_write_then_threads_and_resume(term, control, user, settings):
    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL_WRITE])
    title = f"Killed {uuid.uuid4().hex[:6]}"
    child = term.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    _write_in_flight(term, control, child, title)
    child.kill(signal.SIGKILL)
    child.close(force=True)
    _until(lambda: len(events_titled(control, user, title)) == 1, "the in-flight insert landed", attempts=400)
    [thread] = _threads_in_store(term, user)

    listing = term.spawn("threads")
    listing.expect(pexpect.EOF)
    assert "interrupted (resumable)" in listing.before

    later = term.spawn("resume", thread, "--no-browser")
    later.expect("finishing what was interrupted")
    later.expect("Created event")
    later.expect(re.escape(title))
    later.expect(PROMPT)
    later.sendline("/quit")
    later.expect(pexpect.EOF)
    _one_event_two_posts(control, user, title)
    assert_every_call_answered(_messages(term, settings, control, user, thread))

    again = term.spawn("threads")
    again.expect(pexpect.EOF)
    assert "interrupted" not in again.before and "done" in again.before


def test_ctrl_c_mid_write_then_the_next_question_finishes_it_first(term, control, user, settings):
    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL_WRITE, CAL_READ])
    title = f"Stopped {uuid.uuid4().hex[:6]}"
    child = term.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    _write_in_flight(term, control, child, title)
    child.sendintr()
    child.expect("Interrupted.")
    child.expect(PROMPT)
    _until(lambda: len(events_titled(control, user, title)) == 1, "the in-flight insert landed", attempts=400)

    child.sendline("What's on my calendar tomorrow?")  # same conversation: the cut-off write is settled first
    child.expect("Created event")
    child.expect(re.escape(title))
    child.expect("Team standup")
    child.expect(PROMPT)
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    _one_event_two_posts(control, user, title)
    [thread] = _threads_in_store(term, user)
    messages = _messages(term, settings, control, user, thread)
    assert_every_call_answered(messages)
    assert [type(m).__name__ for m in messages] == [
        "HumanMessage", "AIMessage", "ToolMessage", "AIMessage", "HumanMessage", "AIMessage", "ToolMessage",
        "AIMessage"]

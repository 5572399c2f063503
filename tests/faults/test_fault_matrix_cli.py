"""Fault-matrix rows that need the real `vault-agent` process in a pseudo-terminal: a SIGKILL in the
middle of the resumed write (row 2), the callback page under a failing code exchange (row 1), and faults
inside a chat turn that must leave the chat running (row 5)."""

from __future__ import annotations

import re
import signal
import time
import uuid

import httpx
import pexpect
import pytest
from faultkit import EVENTS_PATH, events_titled

PROMPT = "you ›"
TOKEN_EXCHANGE = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"


def _until(predicate, what: str, attempts: int = 300) -> None:
    for _ in range(attempts):
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def _successful_exchanges(control) -> int:
    return sum(1 for r in control.requests("auth0", "^/oauth/token$")
               if r["form"].get("grant_type") == TOKEN_EXCHANGE and r["status"] == 200)


# -- row 2: SIGKILL while the resumed insert is in flight, then `vault-agent resume` --------------------
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_row2_sigkill_during_the_resumed_insert_then_resume_creates_one_event(term, control, user, backend, request):
    if backend == "postgres":
        term.env["VAULT_AGENT_DB_URL"] = request.getfixturevalue("faults_postgres_url")
    title = f"Crash {uuid.uuid4().hex[:6]}"
    child = term.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline(f'Create an event "{title}" tomorrow at 3pm')
    child.expect(r"vault-agent resume ([0-9a-f-]{36})")
    thread = child.match.group(1)
    control.add_fault("google", EVENTS_PATH, "latency", method="POST", delay_ms=3000, times=1)
    redirect = term.consent(child)
    assert httpx.get(redirect, timeout=30).status_code == 200  # the receiver completed the linking
    child.expect("allowed — carrying on")
    _until(lambda: _successful_exchanges(control) >= 1, "the resumed tool got its Google token")
    time.sleep(0.5)  # the insert is now waiting in the sandbox's 3-second latency
    child.kill(signal.SIGKILL)
    child.close(force=True)
    # The insert the killed process sent still lands: the crash happened after Google accepted it.
    _until(lambda: len(events_titled(control, user, title)) == 1, "the in-flight insert landed", attempts=400)

    later = term.spawn("resume", thread, "--no-browser")
    later.expect("Created event")
    later.expect(re.escape(title))
    later.expect(PROMPT)
    later.sendline("/quit")
    later.expect(pexpect.EOF)
    assert len(events_titled(control, user, title)) == 1
    posts = [r for r in control.requests("google", EVENTS_PATH) if r["method"] == "POST"]
    assert sorted(r["status"] for r in posts) == [200, 409]  # the repeat was recognised by its event id


def test_row2_resume_of_a_pause_whose_link_was_used_offers_a_live_link(term, control, user, settings):
    """The callback was completed (by another process) but the run never resumed, and the account was
    unlinked since: `resume` must not show the used link — it pauses again with a fresh one."""
    import asyncio

    from agent.persistence import open_persistence
    from auth.linking import AccountLinker

    child = term.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline("List my GitHub repositories")
    child.expect(r"vault-agent resume ([0-9a-f-]{36})")
    thread = child.match.group(1)
    redirect = term.consent(child)
    child.kill(signal.SIGKILL)
    child.close(force=True)

    async def complete_elsewhere() -> None:
        db = settings.model_copy(update={"vault_agent_db_url": term.env["VAULT_AGENT_STATE_DIR"] + "/threads.sqlite"})
        async with open_persistence(db) as persistence:
            await AccountLinker(db, persistence.store).complete(redirect)

    asyncio.run(complete_elsewhere())
    control.delete_tokenset(user["user_id"], "github")
    used_state = re.search(r"[?&]state=([^&]+)", redirect).group(1)

    later = term.spawn("resume", thread, "--no-browser")
    later.expect("Authorization needed: GitHub")
    later.expect(r"AUTHORIZE_URL (\S+)\s")
    fresh = later.match.group(1)
    assert re.search(r"[?&]state=([^&]+)", fresh).group(1) != used_state
    back = control.authorize(fresh, user["user_id"])
    assert httpx.get(back, timeout=30).status_code == 200
    later.expect(re.escape(user["github"]["login"]) + "/vault-agent-demo")
    later.expect(PROMPT)
    later.sendline("/quit")
    later.expect(pexpect.EOF)


# -- row 1 through the CLI's callback page -------------------------------------------------------------
def test_row1_callback_page_says_reload_and_the_cli_carries_on(term, control, user):
    title = f"Page {uuid.uuid4().hex[:6]}"
    child = term.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline(f'Create an event "{title}" tomorrow at 5pm')
    redirect = term.consent(child)
    control.add_fault("auth0", "^/oauth/token$", "status", method="POST", status=503,
                      grant_type="authorization_code")
    page = httpx.get(redirect, timeout=30)
    assert page.status_code == 503 and "reload this page" in page.text.lower()
    child.expect("Created event")  # the user allowed: the run goes on, the Token Vault exchange proves it
    child.expect(PROMPT)
    control.clear_faults()
    assert httpx.get(redirect, timeout=30).status_code == 200  # the reload now completes the kept state
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    assert len(events_titled(control, user, title)) == 1


# -- row 5: faults inside a turn leave the chat running ------------------------------------------------
def test_row5_faults_in_a_turn_are_one_line_and_the_chat_goes_on(term, control, user):
    control.seed_tokenset(user["user_id"], "google-oauth2", ["https://www.googleapis.com/auth/calendar.readonly"])
    child = term.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    control.add_fault("google", EVENTS_PATH, "drop", method="GET")
    child.sendline("What's on my calendar tomorrow?")
    child.expect("could not be reached")
    child.expect(PROMPT)
    control.clear_faults()

    control.add_fault("auth0", "^/oauth/token$", "status", method="POST", status=503, grant_type="refresh_token")
    child.sendline("List my GitHub repositories")
    child.expect("could not be prepared")
    child.expect(PROMPT)
    control.clear_faults()

    control.add_fault("openai", "/chat/completions", "status", status=500)
    child.sendline("What's on my calendar tomorrow?")
    child.expect(r"error:[^\r\n]*")
    assert "Traceback" not in child.before
    child.expect(PROMPT)
    control.clear_faults()

    child.sendline("What's on my calendar tomorrow?")
    child.expect("Team standup")
    child.expect(PROMPT)
    child.sendline("/quit")
    child.expect(pexpect.EOF)

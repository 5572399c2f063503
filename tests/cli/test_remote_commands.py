"""`vault-agent chat --remote`: the in-chat commands work there too (they used to go to the model as text)."""

from __future__ import annotations

import pexpect
import pytest

from sandbox.langgraph_dev import LangGraphDev

PROMPT = "you ›"


@pytest.fixture(scope="module")
def server(sandbox, tmp_path_factory):
    env = dict(sandbox.env, VAULT_AGENT_TIMEZONE="UTC")
    with LangGraphDev(env, workdir=tmp_path_factory.mktemp("langgraph-dev-cli")) as running:
        yield running.url


def test_in_chat_commands_work_against_a_server(cli, control, server):
    control.seed_tokenset(cli.user["user_id"], "google-oauth2", ["https://www.googleapis.com/auth/calendar.readonly"])
    child = cli.spawn("chat", "--remote", server, "--no-browser")
    child.expect(PROMPT)
    child.sendline("/help")
    child.expect(r"/resume THREAD")
    child.sendline("/frobnicate")
    child.expect("Unknown command /frobnicate — /help lists the commands")
    child.sendline("What's on my calendar tomorrow?")
    child.expect("Team standup")
    child.expect(PROMPT)
    child.sendline("/threads")
    child.expect("Conversations")
    child.expect("What's on my calendar tomorrow")
    child.sendline("/resume not-a-thread")
    child.expect("No conversation 'not-a-thread' on the server")
    child.sendline("/connections")
    child.expect("google-oauth2")
    child.sendline("/unlink")
    child.expect("Usage: /unlink PROVIDER")
    child.sendline("/unlink calendar")
    child.expect("Unlinked Google Calendar")
    child.sendline("/new")
    child.expect("New conversation")
    child.expect(PROMPT)
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_remote_resume_shows_the_answer_of_a_thread_finished_meanwhile(cli, control, server):
    import re
    import time

    import httpx

    child = cli.spawn("chat", "--remote", server, "--no-browser")
    child.expect(PROMPT)
    child.sendline("What's on my calendar tomorrow?")
    child.expect(r"AUTHORIZE_URL (\S+)\s")
    link = child.match.group(1)
    child.sendintr()
    child.expect(rf"The server keeps thread ({ID})")
    paused = child.match.group(1)
    child.expect(PROMPT)
    redirect = control.authorize(link, cli.user["user_id"], "approve")
    assert httpx.get(redirect, timeout=30).status_code == 200  # the server's callback resumes the thread
    deadline = time.monotonic() + 60
    while True:  # /threads in the local words: the finished thread is "done" (the engine says "idle")
        child.sendline("/threads")
        child.expect("Conversations")
        child.expect(PROMPT)
        listing = child.before
        assert "idle" not in listing and "interrupted" not in listing
        if re.search(rf"{paused}.*done", listing):
            break
        assert time.monotonic() < deadline, listing
        time.sleep(1)
    ids = set(re.findall(ID, listing))  # server ids are time-ordered (UUIDv7): their starts are alike
    n = next(n for n in range(8, 37) if sum(i.startswith(paused[:n]) for i in ids) == 1)
    child.sendline(f"/resume {paused[:n]}")  # a unique prefix is enough
    child.expect(f"Now in conversation {paused}; nothing is waiting there — its last answer:")
    child.expect("agent ›")
    child.expect("Team standup")
    child.expect(PROMPT)

    child.sendline("List my GitHub repositories")  # a Deny is acknowledged as one, not as a green ✓
    child.expect(r"AUTHORIZE_URL (\S+)\s")
    redirect = control.authorize(child.match.group(1), cli.user["user_id"], "deny")
    httpx.get(redirect, timeout=30)
    child.expect("✗ GitHub declined — the server carried on")
    child.expect(PROMPT)
    assert "✓" not in child.before and "Answered" not in child.before
    child.sendline("/quit")
    child.expect(pexpect.EOF)


def test_remote_error_names_a_refused_token(cli, server, tmp_path):
    """Without the sandbox's exports the CLI runs on its own sandbox: the server refuses that tenant's
    token, and the line says so (it used to say the server "could not be reached")."""
    import os

    cli.env = {k: v for k, v in cli.env.items()
               if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_", "GOOGLE_", "GITHUB_"))}
    cli.env.update(VAULT_AGENT_STATE_DIR=str(tmp_path / "own"), VAULT_AGENT_CONFIG_DIR=str(tmp_path / "own-config"),
                   PATH=os.environ.get("PATH", ""))
    child = cli.spawn("chat", "--remote", server, "--no-browser")
    child.expect(pexpect.EOF)
    assert f"The LangGraph server at {server} refused your token (401)" in child.before.replace("\r\n", "")
    assert "could not be reached" not in child.before

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

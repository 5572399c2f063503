"""The chat CLI in a pseudo-terminal: pause for authorization, resume by itself, survive Ctrl-C."""

from __future__ import annotations

import re

import pexpect

PROMPT = "you ›"


def test_conversation_pauses_and_resumes_by_itself(cli):
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline("What's on my calendar tomorrow?")
    child.expect("Reading your Google Calendar")
    child.expect("Authorization needed: Google Calendar")
    cli.authorize_from_screen(child)
    child.expect("Authorized")
    child.expect("Team standup")
    child.expect("Design review with Priya")
    child.expect(PROMPT)
    child.sendline("/quit")
    child.expect(pexpect.EOF)


def test_ctrl_c_at_the_pause_then_resume_in_a_new_process(cli):
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline("List my GitHub repositories")
    child.expect(r"vault-agent resume ([0-9a-f-]{36})")
    thread = child.match.group(1)
    child.expect("AUTHORIZE_URL")
    child.sendintr()
    child.expect("Paused")
    child.expect(PROMPT)
    child.sendline("/quit")
    child.expect(pexpect.EOF)

    later = cli.spawn("resume", thread, "--no-browser")
    later.expect("Authorization needed: GitHub")
    cli.authorize_from_screen(later)
    later.expect(re.escape(cli.user["github"]["login"]) + "/vault-agent-demo")
    later.expect(PROMPT)
    later.sendline("/threads")
    later.expect("done")
    later.sendline("/quit")
    later.expect(pexpect.EOF)


def test_unlink_then_ask_again_pauses_again(cli, control):
    control.seed_tokenset(cli.user["user_id"], "google-oauth2",
                          ["https://www.googleapis.com/auth/calendar.readonly"])
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline("What's on my calendar tomorrow?")
    child.expect("Team standup")
    child.expect(PROMPT)
    child.sendline("/unlink google-oauth2")
    child.expect("Unlinked Google Calendar")
    child.expect(PROMPT)
    child.sendline("What's on my calendar tomorrow?")
    child.expect("Authorization needed: Google Calendar")
    child.expect("AUTHORIZE_URL")
    child.sendintr()
    child.expect("Paused")
    child.sendline("/quit")
    child.expect(pexpect.EOF)


def test_errors_are_one_line_without_traceback(cli):
    env = dict(cli.env, AUTH0_CLIENT_SECRET="")
    child = pexpect.spawn(cli.bin, ["whoami"], env=env, encoding="utf-8", timeout=30)
    child.expect(pexpect.EOF)
    out = child.before
    assert "Missing configuration: AUTH0_CLIENT_SECRET" in out and "Traceback" not in out

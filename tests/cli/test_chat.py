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
    child.expect("✓ Google Calendar allowed — carrying on")
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


def test_make_chat_with_nothing_configured_runs_on_the_sandbox(tmp_path):
    """What a new user gets from `make chat`: the sandbox in-process, one line saying so, and a link that a
    browser completes by logging in as alice and clicking Allow (done here with plain HTTP)."""
    import os
    import socket
    import sys
    from pathlib import Path

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_", "GOOGLE_", "GITHUB_"))}
    env.update(VAULT_AGENT_STATE_DIR=str(tmp_path), VAULT_AGENT_CONFIG_DIR=str(tmp_path), PROMPT_TOOLKIT_NO_CPR="1",
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
               AUTH0_CALLBACK_URL=f"http://127.0.0.1:{port}/callback")
    child = pexpect.spawn(str(Path(sys.executable).parent / "vault-agent"), ["chat", "--no-browser"], env=env,
                          encoding="utf-8", codec_errors="replace", timeout=60, dimensions=(60, 400), cwd=str(tmp_path))
    child.expect("running on the local sandbox")
    child.expect(PROMPT)
    child.sendline("What's on my calendar tomorrow?")
    child.expect(r"AUTHORIZE_URL (\S+)\s")
    url = child.match.group(1)
    with httpx.Client(follow_redirects=False) as browser:
        login = browser.get(url)
        tx = re.search(r'name="tx" value="([^"]+)"', login.text).group(1)
        base = url.split("/authorize")[0]
        browser.post(base + "/u/login", data={"tx": tx, "email": "alice@example.com", "password": "sandbox"})
        back = browser.post(base + "/u/consent", data={"tx": tx, "action": "allow"})
        assert browser.get(back.headers["location"]).status_code == 200
    child.expect("Team standup")
    child.expect(PROMPT)
    child.sendline("/quit")
    child.expect(pexpect.EOF)


def test_login_offers_to_link_a_user_with_the_same_verified_email(cli, control):
    other = control.create_user(email=cli.user["email"])  # same verified email, another account
    child = cli.spawn("login", "--no-browser")
    child.expect("Logged in")
    child.expect(re.escape(other["user_id"]))
    child.expect(r"Link it to your profile\? \[y/N\]")
    child.sendline("y")
    child.expect("Linked")
    child.expect(pexpect.EOF)
    assert other["user_id"] not in [u["user_id"] for u in control.users()]


def test_connections_connect_list_and_unlink_without_an_agent_run(cli):
    child = cli.spawn("connections", "connect", "github", "--no-browser")
    cli.authorize_from_screen(child)
    child.expect("Connected GitHub")
    child.expect(pexpect.EOF)
    listing = cli.spawn("connections")
    listing.expect("github")
    listing.expect(re.escape(cli.user["github"]["login"]))
    listing.expect(pexpect.EOF)
    unlink = cli.spawn("connections", "unlink", "github")
    unlink.expect("Unlinked GitHub")
    unlink.expect(pexpect.EOF)
    again = cli.spawn("whoami")
    again.expect(re.escape(cli.user["email"]))
    again.expect(pexpect.EOF)


def test_after_ctrl_c_the_paused_thread_is_kept_and_resumable_in_the_same_chat(cli):
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline("List my GitHub repositories")
    child.expect("AUTHORIZE_URL")
    child.sendintr()
    child.expect(r"`/resume ([0-9a-f-]{36})`")
    paused = child.match.group(1)
    child.expect(PROMPT)
    child.sendline("What's on my calendar tomorrow?")  # a new conversation, the paused one untouched
    child.expect("Authorization needed: Google Calendar")
    child.expect("AUTHORIZE_URL")
    child.sendintr()
    child.expect(PROMPT)
    child.sendline(f"/resume {paused}")
    child.expect("Authorization needed: GitHub")
    cli.authorize_from_screen(child)
    child.expect("vault-agent-demo")
    child.expect(PROMPT)
    child.sendline("/quit")
    child.expect(pexpect.EOF)

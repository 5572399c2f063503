"""The chat as a newcomer meets it (issue: commands that never end the chat, resume that always works,
Allow after Ctrl-C, "my NAME repo", unknown threads, two pauses in one message), in a pseudo-terminal."""

from __future__ import annotations

import re
import socket
from urllib.parse import parse_qs, urlsplit

import httpx
import pexpect

PROMPT = "you ›"
GOOGLE_READ = ["https://www.googleapis.com/auth/calendar.readonly"]


def _quit(child):
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def test_bad_commands_never_end_the_chat(cli, control):
    control.seed_tokenset(cli.user["user_id"], "github", ["repo"])
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline("/unlink")
    child.expect(r"Usage: /unlink PROVIDER — PROVIDER is google \(Google Calendar\) or github")
    child.sendline("/unlink twitter")
    child.expect("Unknown provider 'twitter': use google")
    child.sendline("/frobnicate")
    child.expect(r"Unknown command /frobnicate — /help lists the commands")
    child.sendline("/new please")
    child.expect("/new takes no argument")
    child.sendline("/resume")
    child.expect("Usage: /resume THREAD")
    child.sendline("/unlink google")  # the obvious guess: an alias, and nothing was linked
    child.expect("Google Calendar was not linked")
    child.sendline("/unlink gh")
    child.expect("Unlinked GitHub")
    assert not control.tokensets(cli.user["user_id"])
    child.sendline("List my GitHub repositories")  # still chatting, and the unlink took effect
    child.expect("Authorization needed: GitHub")
    child.expect("AUTHORIZE_URL")
    child.sendintr()
    child.expect("Paused")
    child.expect(PROMPT)
    assert _quit(child) == 0


def test_unknown_thread_is_refused_without_switching(cli, control):
    control.seed_tokenset(cli.user["user_id"], "google-oauth2", GOOGLE_READ)
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline("/resume not-a-thread")
    child.expect(r"No conversation 'not-a-thread': /threads lists yours. \(Still in ([0-9a-f-]{36})\.\)")
    child.sendline("What's on my calendar tomorrow?")
    child.expect("Team standup")
    child.expect(PROMPT)
    child.sendline("/threads")
    child.expect("What's on my calendar tomorrow")
    child.expect(PROMPT)
    assert "not-a-thread" not in child.before
    assert _quit(child) == 0
    later = cli.spawn("resume", "not-a-thread", "--no-browser")
    later.expect(pexpect.EOF)
    later.close()
    assert "No conversation 'not-a-thread'" in later.before and "Traceback" not in later.before
    assert later.exitstatus == 1


def test_allow_after_ctrl_c_is_picked_up_by_the_open_chat(cli):
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline("List my GitHub repositories")
    child.expect(r"vault-agent resume ([0-9a-f-]{36})")
    paused = child.match.group(1)
    child.expect(URL_RE)
    url = child.match.group(1)
    child.sendintr()
    child.expect("Paused")
    child.expect(PROMPT)
    redirect = cli.control.authorize(url, cli.user["user_id"], "approve")
    page = httpx.get(redirect, timeout=30)
    assert page.status_code == 200 and "picks the paused conversation up" in page.text
    child.expect(f"✓ GitHub allowed — carrying on with the conversation you paused \\({paused}\\)")
    child.expect(re.escape(cli.user["github"]["login"]) + "/vault-agent-demo")
    child.expect(PROMPT)
    # Nothing waits any more: the chat has let go of the callback port.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", urlsplit(cli.env["AUTH0_CALLBACK_URL"]).port))
    assert _quit(child) == 0


def test_resume_in_a_second_terminal_while_the_chat_is_open(cli):
    """The chat holds the callback port for the link it left with Ctrl-C; `vault-agent resume` in another
    terminal gets it handed over instead of failing with "port in use"."""
    chat = cli.spawn("chat", "--no-browser")
    chat.expect(PROMPT)
    chat.sendline("What's on my calendar tomorrow?")
    chat.expect(r"vault-agent resume ([0-9a-f-]{36})")
    thread = chat.match.group(1)
    chat.expect("AUTHORIZE_URL")
    chat.sendintr()
    chat.expect("Paused")
    chat.expect(PROMPT)

    other = cli.spawn("resume", thread, "--no-browser")
    other.expect("Authorization needed: Google Calendar")
    cli.authorize_from_screen(other)
    other.expect("✓ Google Calendar allowed — carrying on")
    other.expect("Team standup")
    other.expect(PROMPT)
    assert _quit(other) == 0
    chat.sendline("/threads")  # the first chat is alive and sees the conversation finished
    chat.expect(thread[:8])
    chat.expect(PROMPT)
    assert _quit(chat) == 0


URL_RE = r"AUTHORIZE_URL (\S+)\s"


def test_my_repo_name_means_the_signed_in_login(cli, control):
    control.seed_tokenset(cli.user["user_id"], "github", ["repo"])
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline("What issues are open in my vault-agent-demo repo?")
    child.expect("Open issues in " + re.escape(cli.user["github"]["login"]) + "/vault-agent-demo")
    child.expect(r"- #\d+ ")
    child.expect(PROMPT)
    assert "must look like owner/name" not in child.before
    assert _quit(child) == 0


def test_two_pauses_each_acknowledged(cli):
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline("List my GitHub repositories and my calendar tomorrow")
    urls = {}
    for _ in range(2):
        child.expect(URL_RE)
        url = child.match.group(1)
        urls[parse_qs(urlsplit(url).query)["requested_connection"][0]] = url
    assert set(urls) == {"github", "google-oauth2"}
    redirect = cli.control.authorize(urls["github"], cli.user["user_id"], "approve")
    assert httpx.get(redirect, timeout=30).status_code == 200
    child.expect(r"✓ GitHub allowed.*waiting for 1 more")
    redirect = cli.control.authorize(urls["google-oauth2"], cli.user["user_id"], "deny")
    httpx.get(redirect, timeout=30)
    child.expect("✓ GitHub allowed · ✗ Google Calendar declined — carrying on")
    child.expect("vault-agent-demo")
    child.expect("You declined access to Google Calendar, so I could not read your calendar")
    child.expect(PROMPT)
    assert "Explain this" not in child.before and "Authorized — carrying on" not in child.before
    assert _quit(child) == 0


def _browser_allows(url: str) -> None:
    """What a person does in the sandbox: log in as alice, click Allow, land on the callback."""
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        login = browser.get(url)
        tx = re.search(r'name="tx" value="([^"]+)"', login.text).group(1)
        base = url.split("/authorize")[0]
        browser.post(base + "/u/login", data={"tx": tx, "email": "alice@example.com", "password": "sandbox"})
        back = browser.post(base + "/u/consent", data={"tx": tx, "action": "allow"})
        assert browser.get(back.headers["location"]).status_code == 200


def test_another_users_thread_is_refused_in_a_shared_database(cli, control, tmp_path):
    child = cli.spawn("chat", "--no-browser")
    child.expect(PROMPT)
    child.sendline("List my GitHub repositories")
    child.expect(r"vault-agent resume ([0-9a-f-]{36})")
    thread = child.match.group(1)
    child.expect("AUTHORIZE_URL")
    child.sendintr()
    child.expect(PROMPT)
    assert _quit(child) == 0

    mallory = control.create_user()
    cli.env = dict(cli.env, SANDBOX_USER_EMAIL=mallory["email"], VAULT_AGENT_CONFIG_DIR=str(tmp_path / "mallory"))
    other = cli.spawn("resume", thread, "--no-browser")  # same database (state dir), another user
    other.expect(pexpect.EOF)
    other.close()
    assert f"No conversation '{thread}'" in other.before and "AUTHORIZE_URL" not in other.before
    assert other.exitstatus == 1

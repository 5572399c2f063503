"""What the CLI prints works as printed, in the default sandbox mode a newcomer starts with (`make chat`,
nothing configured): each hint run from a fresh shell in the repo root, one sandbox world across commands
and restarts, and an authorization finished by pasting the address the browser ended on (a CLI on a
remote host, whose loopback receiver the browser cannot reach)."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pexpect
import pytest
from loopback import callback_port

PROMPT = "you ›"
URL_RE = r"AUTHORIZE_URL (\S+)\s"
REPO = Path(__file__).resolve().parents[2]
VENV_BIN = str(Path(sys.executable).parent)


@pytest.fixture
def demo(tmp_path):
    """A newcomer's shell in the repo root: nothing configured, the venv not on the PATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_", "GOOGLE_", "GITHUB_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != VENV_BIN)
    env.update(VAULT_AGENT_STATE_DIR=str(tmp_path / "state"), VAULT_AGENT_CONFIG_DIR=str(tmp_path / "config"),
               PROMPT_TOOLKIT_NO_CPR="1", PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
               VAULT_AGENT_TIMEZONE="UTC", AUTH0_CALLBACK_URL=f"http://127.0.0.1:{callback_port()}/callback",
               TERM="xterm-256color", COLUMNS="400")
    transcript = open(tmp_path / "transcript.txt", "w")

    def shell(command: str) -> pexpect.spawn:
        """`command` typed into a fresh, non-activated shell in the repo root."""
        child = pexpect.spawn("bash", ["--norc", "--noprofile", "-c", command], env=env, cwd=str(REPO),
                              encoding="utf-8", codec_errors="replace", timeout=90, dimensions=(60, 400))
        child.logfile_read = transcript
        return child

    shell.env = env
    shell.state = tmp_path / "state"
    yield shell
    transcript.close()


def _quit(child) -> int:
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def _browser(url: str, action: str = "allow") -> str:
    """What a person does in the sandbox: log in as alice, answer; returns the address the browser is sent
    back to (the CLI's loopback callback), without opening it."""
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        login = browser.get(url)
        tx = re.search(r'name="tx" value="([^"]+)"', login.text).group(1)
        base = url.split("/authorize")[0]
        answer = browser.post(base + "/u/login", data={"tx": tx, "email": "alice@example.com", "password": "sandbox"})
        if answer.status_code == 200 and 'name="action"' in answer.text:  # the consent page (a link)
            answer = browser.post(base + "/u/consent", data={"tx": tx, "action": action})
        return answer.headers["location"]


def _open(address: str) -> None:
    assert httpx.get(address, timeout=30).status_code == 200


def test_printed_hints_work_from_a_fresh_shell_and_the_world_is_kept(demo):
    chat = demo("make -s chat ARGS=--no-browser")
    chat.expect("running on the local sandbox")
    chat.expect(PROMPT)
    chat.sendline("What's on my calendar tomorrow?")
    chat.expect(r"Resume later with: (\S+ resume [0-9a-f-]{36})\r?\n")
    hint = chat.match.group(1)
    assert hint.startswith(".venv/bin/vault-agent resume "), hint  # the venv is not on a fresh shell's PATH
    chat.expect(URL_RE)
    link = chat.match.group(1)
    chat.sendintr()
    chat.expect(r"Paused.*`(\S+ resume [0-9a-f-]{36})` later")
    assert chat.match.group(1) == hint
    chat.expect(PROMPT)
    assert _quit(chat) == 0  # make did not hear the Ctrl-C (the chat has the terminal to itself)
    assert "Traceback" not in chat.before and "Interrupt" not in chat.before

    later = demo(hint)  # exactly as printed, in a new shell
    later.expect("Authorization needed: Google Calendar")
    later.expect(URL_RE)
    again = later.match.group(1)
    assert urlsplit(again).netloc == urlsplit(link).netloc  # the same tenant on the same port: the world was kept
    _open(_browser(again))
    later.expect("✓ Google Calendar allowed — carrying on")
    later.expect("Team standup")
    later.expect(PROMPT)
    assert _quit(later) == 0

    listing = demo(hint.split(" resume ")[0] + " connections")
    listing.expect(pexpect.EOF)
    assert "google-oauth2" in listing.before and "alice@gmail.example" in listing.before  # kept after /quit


def test_one_sandbox_tenant_across_commands(demo):
    def run(command: str, *, answer: str | None = None) -> str:
        child = demo(".venv/bin/vault-agent " + command)
        if answer is not None:
            child.expect(URL_RE)
            _open(_browser(child.match.group(1), answer))
        child.expect(pexpect.EOF)
        child.close()
        assert "Traceback" not in child.before, child.before
        return child.before

    assert "Connected Google Calendar" in run("connections connect google --no-browser", answer="allow")
    assert "google-oauth2" in run("connections")
    assert "Alice Example <alice@example.com>" in run("whoami")
    assert "Logged out" in run("logout")
    assert "You are not logged in: run `.venv/bin/vault-agent login`" in run("whoami")
    assert "Logged in" in run("login --no-browser", answer="allow")
    assert "Alice Example <alice@example.com>" in run("whoami")
    assert "google-oauth2" in run("connections")  # the account linked three commands ago is still there
    env = json.loads((demo.state / "sandbox" / "env.json").read_text())
    assert env["AUTH0_DOMAIN"].startswith("http://127.0.0.1:")  # where the kept world is served


def test_a_pasted_final_address_completes_the_link(demo):
    """The browser (on another device) cannot reach the loopback receiver; the user pastes the address it
    ended on. A forged state is refused like any callback; the real one completes the link."""
    chat = demo(".venv/bin/vault-agent chat --no-browser")
    chat.expect(PROMPT)
    chat.sendline("List my GitHub repositories")
    chat.expect("Paste the address it ends on here")
    chat.expect(URL_RE)
    back = _browser(chat.match.group(1))  # not opened: this browser cannot reach the terminal's machine
    forged = re.sub(r"state=[^&]+", "state=forged", back)
    chat.sendline(forged)
    chat.expect(r"(?i)unknown|expired|not valid|no longer")
    chat.sendline(back)
    chat.expect("✓ GitHub allowed — carrying on")
    chat.expect("vault-agent-demo")
    chat.expect(PROMPT)
    assert _quit(chat) == 0


def test_connect_completes_from_a_pasted_address(demo):
    child = demo(".venv/bin/vault-agent connections connect github --no-browser")
    child.expect(URL_RE)
    back = _browser(child.match.group(1))
    child.expect("Paste the address it ends on here")
    child.sendline(back)
    child.expect("Connected GitHub")
    child.expect(pexpect.EOF)
    listing = demo(".venv/bin/vault-agent connections")
    listing.expect(pexpect.EOF)
    assert "github" in listing.before


def test_a_chat_outlives_the_command_that_started_the_sandbox(demo):
    """The first command serves the kept world; a second one uses it and takes it over (same ports, saved
    world) when the first exits."""
    first = demo(".venv/bin/vault-agent chat --no-browser")
    first.expect(PROMPT)
    second = demo(".venv/bin/vault-agent chat --no-browser")
    second.expect(PROMPT)
    second.sendline("/connections")  # served by the first chat's sandbox
    second.expect("No linked accounts yet")
    second.expect(PROMPT)
    assert _quit(first) == 0
    second.sendline("What's on my calendar tomorrow?")  # now served by the second chat
    second.expect(URL_RE)
    _open(_browser(second.match.group(1)))
    second.expect("✓ Google Calendar allowed — carrying on")
    second.expect("Team standup")
    second.expect(PROMPT)
    assert _quit(second) == 0

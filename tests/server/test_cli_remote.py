"""`vault-agent chat --remote` against `langgraph dev`: the server's callback resumes the run and the CLI
shows the answer."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pexpect


def test_chat_remote_pauses_and_the_server_carries_on(engine_server, sandbox, control, user, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_"))}
    env.update(sandbox.env)
    env.update({"SANDBOX_USER_EMAIL": user["email"], "VAULT_AGENT_STATE_DIR": str(tmp_path),
                "VAULT_AGENT_CONFIG_DIR": str(tmp_path), "PROMPT_TOOLKIT_NO_CPR": "1",
                "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    child = pexpect.spawn(str(Path(sys.executable).parent / "vault-agent"),
                          ["chat", "--remote", engine_server["url"], "--no-browser"], env=env,
                          encoding="utf-8", codec_errors="replace", timeout=60, dimensions=(60, 400))
    child.expect("you ›")
    child.sendline("What's on my calendar tomorrow?")
    child.expect("Authorization needed: Google Calendar")
    child.expect(r"AUTHORIZE_URL (\S+)\s")
    redirect = control.authorize(child.match.group(1), user["user_id"])
    assert httpx.get(redirect, timeout=60).status_code == 200  # the browser on the server's callback
    child.expect("the server carried on")
    child.expect("Team standup")
    child.expect("you ›")
    child.sendline("/quit")
    child.expect(pexpect.EOF)


def test_chat_remote_deny_finishes_without_waiting_out_the_link(engine_server, sandbox, control, user, tmp_path):
    """Deny used to leave the thread interrupted and the CLI counting down for ten minutes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_"))}
    env.update(sandbox.env)
    env.update({"SANDBOX_USER_EMAIL": user["email"], "VAULT_AGENT_STATE_DIR": str(tmp_path),
                "VAULT_AGENT_CONFIG_DIR": str(tmp_path), "PROMPT_TOOLKIT_NO_CPR": "1",
                "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    child = pexpect.spawn(str(Path(sys.executable).parent / "vault-agent"),
                          ["chat", "--remote", engine_server["url"], "--no-browser"], env=env,
                          encoding="utf-8", codec_errors="replace", timeout=60, dimensions=(60, 400))
    child.expect("you ›")
    child.sendline("What's on my calendar tomorrow?")
    child.expect(r"AUTHORIZE_URL (\S+)\s")
    redirect = control.authorize(child.match.group(1), user["user_id"], action="deny")
    page = httpx.get(redirect, timeout=60)
    assert page.status_code == 200 and "declined" in page.text
    child.expect("agent ›")
    child.expect("declined")
    child.expect("you ›")
    child.sendline("/quit")
    child.expect(pexpect.EOF)

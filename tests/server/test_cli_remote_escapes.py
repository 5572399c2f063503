"""`vault-agent chat --remote`: provider text that carries escape sequences (an event titled with a colour
code and a NUL) is printed with its control characters spelled out, as in the local chat (one function,
`agent/cli/terminal.py`'s `plain`), in "Created event" and in a later listing. (The server hands the NUL
back as U+FFFD — Aegra drops it, PostgreSQL text holds no NUL; the escape sequences come back as they are.)"""

from __future__ import annotations

import io
import os
import sys
import uuid
from pathlib import Path

import pexpect

HOSTILE = "ctl\x1b[31mred\x1b[0m\x00"
SHOWN = r"ctl\x1b[31mred\x1b[0m"  # then \x00 — or U+FFFD: the server itself stores a NUL as that
CAL = ["https://www.googleapis.com/auth/calendar.events", "https://www.googleapis.com/auth/calendar.readonly"]


def test_remote_chat_shows_provider_escape_sequences_escaped(engine_server, sandbox, control, user, tmp_path):
    control.seed_tokenset(user["user_id"], "google-oauth2", CAL)  # linked: no pause in the way
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_"))}
    env.update(sandbox.env)
    env.update({"SANDBOX_USER_EMAIL": user["email"], "VAULT_AGENT_STATE_DIR": str(tmp_path),
                "VAULT_AGENT_CONFIG_DIR": str(tmp_path), "PROMPT_TOOLKIT_NO_CPR": "1",
                "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    screen = io.StringIO()
    child = pexpect.spawn(str(Path(sys.executable).parent / "vault-agent"),
                          ["chat", "--remote", engine_server["url"], "--no-browser"], env=env,
                          encoding="utf-8", codec_errors="replace", timeout=60, dimensions=(60, 400))
    child.logfile_read = screen
    tag = uuid.uuid4().hex[:6]
    child.expect("you ›")
    # A bracketed paste: the control characters reach the prompt as text, not as keys.
    child.send(f'\x1b[200~Create an event "{tag} {HOSTILE}" tomorrow at 3pm\x1b[201~\r')
    child.expect("Created event")
    child.expect_exact(f"{tag} {SHOWN}")
    child.expect("you ›")
    child.sendline("What's on my calendar tomorrow?")
    child.expect("Team standup")
    child.expect_exact(f"{tag} {SHOWN}")
    child.expect("you ›")
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    [event] = [e for e in control.provider_data(user["user_id"])["events"] if e["summary"].startswith(tag)]
    sent = HOSTILE.rstrip("\x00") if engine_server["engine"] == "aegra" else HOSTILE
    assert event["summary"] == f"{tag} {sent}"
    assert "\x1b[31mred" not in screen.getvalue() and "\x00" not in screen.getvalue()

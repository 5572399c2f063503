"""`vault-agent chat --remote`: Ctrl-C while the server works stops waiting for that turn, says so, and the
chat goes on — every time (asyncio's own handler turned the second Ctrl-C into an exit)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect

CAL_READ = "https://www.googleapis.com/auth/calendar.readonly"


def test_ctrl_c_while_the_server_works_keeps_the_remote_chat(engine_server, sandbox, control, user, tmp_path):
    control.seed_tokenset(user["user_id"], "google-oauth2", [CAL_READ])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_"))}
    env.update(sandbox.env)
    env.update({"SANDBOX_USER_EMAIL": user["email"], "VAULT_AGENT_STATE_DIR": str(tmp_path),
                "VAULT_AGENT_CONFIG_DIR": str(tmp_path), "PROMPT_TOOLKIT_NO_CPR": "1",
                "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    child = pexpect.spawn(str(Path(sys.executable).parent / "vault-agent"),
                          ["chat", "--remote", engine_server["url"], "--no-browser"], env=env,
                          encoding="utf-8", codec_errors="replace", timeout=60, dimensions=(60, 400))
    child.expect("you ›")
    control.add_fault("google", r"^/calendar/v3/calendars/[^/]+/events$", "latency", method="GET", delay_ms=8000,
                      times=4)
    for _ in range(2):
        child.sendline("What's on my calendar tomorrow?")
        child.expect("running list_calendar_events")
        child.expect(pexpect.TIMEOUT, timeout=1)  # the read is held by the sandbox now
        child.sendintr()
        child.expect(r"Interrupted\.")
        child.expect("you ›")
    control.clear_faults()
    child.sendline("/new")
    child.expect("New conversation")
    child.sendline("What's on my calendar tomorrow?")
    child.expect("Team standup")
    child.expect("you ›")
    child.sendline("/quit")
    child.expect(pexpect.EOF)

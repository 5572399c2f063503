"""Drive the real `vault-agent` in a pseudo-terminal against the test session's sandbox."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import httpx
import pexpect
import pytest
from loopback import callback_port

BIN = Path(sys.executable).parent / "vault-agent"
URL = re.compile(r"AUTHORIZE_URL (\S+)\s")


class Cli:
    def __init__(self, env, control, user):
        self.env, self.control, self.user = env, control, user
        self.bin = str(BIN)

    def spawn(self, *args: str, columns: int = 400) -> pexpect.spawn:
        env = dict(self.env, COLUMNS=str(columns))
        child = pexpect.spawn(self.bin, list(args), env=env, encoding="utf-8", codec_errors="replace", timeout=60,
                              dimensions=(60, columns))
        child.logfile_read = self.transcript
        return child

    def authorize_from_screen(self, child, action="approve") -> str:
        """Read the URL off the screen and do what the user's browser would: consent at the tenant,
        then follow the redirect to the CLI's loopback receiver."""
        child.expect(URL)
        url = child.match.group(1)
        redirect = self.control.authorize(url, self.user["user_id"], action)
        assert httpx.get(redirect, timeout=30).status_code == 200
        return url


@pytest.fixture
def cli(sandbox, control, user, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_"))}
    env.update(sandbox.env)
    env.update({
        "SANDBOX_USER_EMAIL": user["email"], "VAULT_AGENT_STATE_DIR": str(tmp_path / "state"),
        "VAULT_AGENT_CONFIG_DIR": str(tmp_path / "config"), "VAULT_AGENT_TIMEZONE": "UTC",
        "AUTH0_CALLBACK_URL": f"http://127.0.0.1:{callback_port()}/callback",
        "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm-256color", "COLUMNS": "400",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    })
    c = Cli(env, control, user)
    c.transcript = open(tmp_path / "transcript.txt", "w")
    yield c
    c.transcript.close()

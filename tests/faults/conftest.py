"""Fixtures for the fault matrix (helpers live in `faultkit.py`)."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import pexpect
import pytest
from loopback import callback_port

from auth.linking import AccountLinker


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """The linker's retry pauses, shortened (the number of attempts stays as shipped)."""
    monkeypatch.setattr(AccountLinker, "backoff_seconds", 0.01)


@pytest.fixture(autouse=True)
def fresh_request_log(control):
    """Each row counts requests in the sandbox's log: start it empty."""
    control.clear_requests()


@pytest.fixture
def sqlite_settings(settings, tmp_path):
    return settings.model_copy(update={"vault_agent_db_url": "sqlite:///" + str(tmp_path / "state" / "threads.sqlite")})


BIN = Path(sys.executable).parent / "vault-agent"


class Terminal:
    """The real `vault-agent` in a pseudo-terminal, against the test session's sandbox."""

    def __init__(self, env: dict[str, str], control, user, transcript) -> None:
        self.env, self.control, self.user, self.transcript = env, control, user, transcript

    def spawn(self, *args: str) -> pexpect.spawn:
        child = pexpect.spawn(str(BIN), list(args), env=self.env, encoding="utf-8", codec_errors="replace",
                              timeout=60, dimensions=(60, 400))
        child.logfile_read = self.transcript
        return child

    def consent(self, child) -> str:
        """Read the link off the screen and click Allow at the tenant; the redirect back to the CLI."""
        child.expect(r"AUTHORIZE_URL (\S+)\s")
        return self.control.authorize(child.match.group(1), self.user["user_id"])


@pytest.fixture
def term(sandbox, control, user, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_"))}
    env.update(sandbox.env)
    env.update({
        "SANDBOX_USER_EMAIL": user["email"], "VAULT_AGENT_STATE_DIR": str(tmp_path / "state"),
        "VAULT_AGENT_CONFIG_DIR": str(tmp_path / "config"), "VAULT_AGENT_TIMEZONE": "UTC",
        "AUTH0_CALLBACK_URL": f"http://127.0.0.1:{callback_port()}/callback",
        "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm-256color", "COLUMNS": "400",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    })
    with open(tmp_path / "transcript.txt", "w") as transcript:
        yield Terminal(env, control, user, transcript)


@pytest.fixture(scope="session")
def faults_postgres_url():
    """A fresh PostgreSQL database for the Postgres rows (skipped without a server, failed in CI)."""
    import psycopg

    admin_url = os.environ.get("VAULT_AGENT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    name = "vault_agent_faults_" + secrets.token_hex(4)
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("VAULT_AGENT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but {admin_url} is not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {admin_url}: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    yield admin_url.rsplit("/", 1)[0] + "/" + name
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()

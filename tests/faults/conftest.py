"""Fixtures for the fault matrix (helpers live in `faultkit.py`)."""

from __future__ import annotations

import os
import secrets

import pytest

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

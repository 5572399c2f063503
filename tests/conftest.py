"""Shared fixtures: one sandbox per test session (its own loopback ports), fresh users per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from auth.settings import Settings, get_settings
from sandbox.aegra import ADMIN_URL
from sandbox.aegra import fresh_database as sandbox_database
from sandbox.runner import SandboxServer


@pytest.fixture(scope="session")
def sandbox():
    with SandboxServer() as server:
        yield server


@pytest.fixture
def control(sandbox):
    sandbox.control.clear_faults()
    sandbox.control.configure(no_tokenset_error="tokenset_not_found", provider_token_ttl=3600)
    yield sandbox.control
    sandbox.control.clear_faults()


@pytest.fixture
def user(control):
    """A fresh user with fresh, unlinked Google and GitHub accounts and seeded provider data."""
    return control.create_user()


@pytest.fixture
def sandbox_env(sandbox, monkeypatch, tmp_path):
    """The sandbox's variables in the environment, state and config dirs in a temp folder."""
    for name, value in sandbox.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VAULT_AGENT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VAULT_AGENT_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("AUTH0_CALLBACK_URL", "http://127.0.0.1:8765/callback")
    get_settings.cache_clear()
    yield sandbox.env
    get_settings.cache_clear()


@pytest.fixture
def settings(sandbox_env) -> Settings:
    return Settings(_env_file=None)


# A fresh PostgreSQL database per test session (several people may share the server): the durability
# tests use one, the server on Aegra another.
@contextmanager
def fresh_database() -> Iterator[str]:
    import psycopg

    try:
        database = sandbox_database(ADMIN_URL)
        url = database.__enter__()
    except psycopg.OperationalError as exc:
        if os.environ.get("VAULT_AGENT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here (VAULT_AGENT_REQUIRE_POSTGRES=1) but {ADMIN_URL} "
                        f"is not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {ADMIN_URL} (set VAULT_AGENT_TEST_PG): {exc}")
    try:
        yield url
    finally:
        database.__exit__(None, None, None)


@pytest.fixture(scope="session")
def postgres_url():
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def new_database():
    """`with new_database() as url:` a database of its own (dropped afterwards)."""
    return fresh_database

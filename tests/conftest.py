"""Shared fixtures: one sandbox per test session (its own loopback ports), fresh users per test."""

from __future__ import annotations

import pytest

from auth.settings import Settings, get_settings
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

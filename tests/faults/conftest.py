"""Fixtures for the fault matrix: an `AgentSession` on a real SQLite (or Postgres) file against the
sandbox, a user whose session comes from the control API, and helpers to count side effects in the
sandbox's provider data."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager

import pytest

from agent.persistence import open_persistence
from agent.services import Services
from agent.session_runner import AgentSession, AuthorizationNeeded, Final
from auth.credentials import UserCredentials
from auth.linking import AccountLinker

CAL_WRITE = "https://www.googleapis.com/auth/calendar.events"
CAL_READ = "https://www.googleapis.com/auth/calendar.readonly"
EVENTS_PATH = r"^/calendar/v3/calendars/[^/]+/events$"


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """The linker's retry pauses, shortened (the number of attempts stays as shipped)."""
    monkeypatch.setattr(AccountLinker, "backoff_seconds", 0.01)


@pytest.fixture(autouse=True)
def fresh_request_log(control):
    """Each row counts requests in the sandbox's log: start it empty."""
    control.clear_requests()


def credentials(control, user) -> UserCredentials:
    session = control.session(user["user_id"])
    return UserCredentials(user["user_id"], session["id_token"], refresh_token=session["refresh_token"])


@asynccontextmanager
async def agent_session(settings, control, user, *, timezone: str = "UTC"):
    async with open_persistence(settings) as persistence:
        services = Services.create(settings, persistence.store)
        try:
            yield AgentSession(services, persistence, credentials(control, user), timezone=timezone)
        finally:
            await services.aclose()


@pytest.fixture
def sqlite_settings(settings, tmp_path):
    return settings.model_copy(update={"vault_agent_db_url": "sqlite:///" + str(tmp_path / "state" / "threads.sqlite")})


async def run(events) -> tuple[list[AuthorizationNeeded], str]:
    """Drain a run: the pauses it ended in and its final text."""
    pauses, final = [], ""
    async for event in events:
        if isinstance(event, AuthorizationNeeded):
            pauses.append(event)
        elif isinstance(event, Final):
            final = event.text
    return pauses, final


def new_thread() -> str:
    return str(uuid.uuid4())


def events_titled(control, user, title: str) -> list[dict]:
    return [e for e in control.provider_data(user["user_id"])["events"] if e.get("summary") == title]

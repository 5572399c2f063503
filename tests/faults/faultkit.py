"""Helpers for the fault matrix: an `AgentSession` on a real SQLite (or Postgres) file against the
sandbox for a user whose session comes from the control API, a run drained to its pauses and final
text, and side effects counted in the sandbox's provider data."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager

from agent.persistence import open_persistence
from agent.session_runner import AgentSession, AuthorizationNeeded, Final
from auth.credentials import UserCredentials
from tools.services import Services

CAL_WRITE = "https://www.googleapis.com/auth/calendar.events"
CAL_READ = "https://www.googleapis.com/auth/calendar.readonly"
EVENTS_PATH = r"^/calendar/v3/calendars/[^/]+/events$"


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

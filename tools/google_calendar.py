"""Google Calendar tools on google-api-python-client.

The client is synchronous, so every call runs in a worker thread. Results are trimmed to what the model
needs (time, title, a few fields) and shown in the user's time zone.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import google.auth.exceptions
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from langchain_core.tools import InjectedToolCallId, tool
from pydantic import Field

from .context import current_context
from auth.token_vault import ProviderToken

from .provider_errors import ProviderError, ProviderInsufficientScope, ProviderUnauthorized
from .vault import GOOGLE, call_with_token

SCOPE = "https://www.googleapis.com/auth/"
READ_SCOPES = [SCOPE + "calendar.readonly"]
WRITE_SCOPES = [SCOPE + "calendar.events"]
FREEBUSY_SCOPES = [SCOPE + "calendar.freebusy"]
MAX_EVENTS = 25


def _service(token: ProviderToken) -> Any:
    settings = current_context().services.settings
    return build("calendar", "v3", credentials=Credentials(token.access_token), static_discovery=True,
                 cache_discovery=False,
                 client_options={"api_endpoint": settings.google_api_base_url.rstrip("/") + "/calendar/v3/"})


async def _execute(token: ProviderToken, make_request: Any) -> dict[str, Any]:
    """Build and execute a request in a worker thread, mapping Google's failures to ours."""
    def run() -> dict[str, Any]:
        return make_request(_service(token)).execute(num_retries=1)

    try:
        return await asyncio.to_thread(run)
    except google.auth.exceptions.RefreshError as exc:  # how a bare-token 401 surfaces (PROTOCOLS §6)
        raise ProviderUnauthorized("Google rejected the access token") from exc
    except HttpError as exc:
        if exc.status_code == 401:
            raise ProviderUnauthorized("Google rejected the access token") from exc
        if exc.status_code == 403 and "insufficientPermissions" in str(exc.content):
            raise ProviderInsufficientScope("more Calendar access is needed") from exc
        raise ProviderError(f"Google Calendar answered {exc.status_code}: {exc.reason}") from exc


def _zone() -> ZoneInfo:
    return ZoneInfo(current_context().timezone or "UTC")


def _when(value: str, zone: ZoneInfo, end_of_day: bool = False) -> datetime:
    """An ISO date or date-time from the model, made timezone-aware in the user's zone."""
    value = value.strip()
    if len(value) == 10:
        day = date.fromisoformat(value) + (timedelta(days=1) if end_of_day else timedelta())
        return datetime.combine(day, time(0), zone)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def _format_event(event: dict[str, Any], zone: ZoneInfo) -> str:
    start, end = event.get("start", {}), event.get("end", {})
    if "dateTime" in start:
        s = datetime.fromisoformat(start["dateTime"]).astimezone(zone)
        e = datetime.fromisoformat(end["dateTime"]).astimezone(zone)
        when = f"{s:%a %d %b %H:%M}–{e:%H:%M}"
    else:
        when = f"{start.get('date')} (all day)"
    return f"- {when} {event.get('summary', '(no title)')}"


def _range_error(start: datetime, end: datetime) -> str | None:
    return "Error: the end must be after the start." if end <= start else None


def _window(start: str, end: str | None, zone: ZoneInfo) -> tuple[datetime, datetime] | str:
    """The (start, end) the model asked for — a missing end means the end of the start day — or the
    error sentence to hand back to the model."""
    try:
        t0 = _when(start, zone)
        t1 = _when(end, zone, end_of_day=True) if end else datetime.combine(t0.date() + timedelta(days=1), time(0), zone)
    except ValueError:
        return "Error: start and end must be ISO dates or date-times."
    return _range_error(t0, t1) or (t0, t1)


@tool
async def list_calendar_events(
    start: Annotated[str, Field(description="Start of the range: ISO date (2026-11-25) or date-time with offset")],
    end: Annotated[str | None, Field(description="End of the range (exclusive); defaults to the end of the start day")] = None,
    tool_call_id: Annotated[str, InjectedToolCallId] = "",
) -> str:
    """List the user's Google Calendar events in a time range (e.g. today, tomorrow, this week).
    Use it for questions like "what's on my calendar tomorrow?"."""
    zone = _zone()
    window = _window(start, end, zone)
    if isinstance(window, str):
        return window
    t0, t1 = window

    async def call(token: ProviderToken) -> str:
        data = await _execute(token, lambda svc: svc.events().list(
            calendarId="primary", timeMin=t0.isoformat(), timeMax=t1.isoformat(), singleEvents=True,
            orderBy="startTime", maxResults=MAX_EVENTS, timeZone=str(zone)))
        items = data.get("items", [])
        header = f"Events from {t0:%a %d %b %Y %H:%M} to {t1:%a %d %b %Y %H:%M} ({zone}):"
        if not items:
            return header + "\n(no events)"
        more = "\n(more events not shown)" if data.get("nextPageToken") else ""
        return header + "\n" + "\n".join(_format_event(e, zone) for e in items) + more

    return await call_with_token("list_calendar_events", tool_call_id, GOOGLE, READ_SCOPES, call)


@tool
async def check_availability(
    start: Annotated[str, Field(description="Start of the window: ISO date or date-time with offset")],
    end: Annotated[str | None, Field(description="End of the window; defaults to the end of the start day")] = None,
    tool_call_id: Annotated[str, InjectedToolCallId] = "",
) -> str:
    """Tell when the user is busy or free in a time window (Google Calendar free/busy). Use it for
    "am I free tomorrow afternoon?" — it returns busy intervals only, no event details."""
    zone = _zone()
    window = _window(start, end, zone)
    if isinstance(window, str):
        return window
    t0, t1 = window

    async def call(token: ProviderToken) -> str:
        data = await _execute(token, lambda svc: svc.freebusy().query(body={
            "timeMin": t0.isoformat(), "timeMax": t1.isoformat(), "timeZone": str(zone),
            "items": [{"id": "primary"}]}))
        busy = data.get("calendars", {}).get("primary", {}).get("busy", [])
        if not busy:
            return f"Free the whole time from {t0:%a %d %b %H:%M} to {t1:%a %d %b %H:%M} ({zone})."
        lines = [f"- busy {datetime.fromisoformat(b['start'].replace('Z', '+00:00')).astimezone(zone):%a %H:%M}"
                 f"–{datetime.fromisoformat(b['end'].replace('Z', '+00:00')).astimezone(zone):%H:%M}" for b in busy]
        return f"Busy intervals between {t0:%a %d %b %H:%M} and {t1:%a %d %b %H:%M} ({zone}):\n" + "\n".join(lines)

    return await call_with_token("check_availability", tool_call_id, GOOGLE, FREEBUSY_SCOPES, call)


@tool
async def create_calendar_event(
    summary: Annotated[str, Field(description="Title of the event", min_length=1, max_length=300)],
    start: Annotated[str, Field(description="Start: ISO date-time with offset, e.g. 2026-11-25T10:00:00+00:00")],
    end: Annotated[str, Field(description="End: ISO date-time with offset")],
    description: Annotated[str, Field(description="Optional notes", max_length=4000)] = "",
    tool_call_id: Annotated[str, InjectedToolCallId] = "",
) -> str:
    """Create an event in the user's primary Google Calendar. Only when the user asked for it."""
    zone = _zone()
    try:
        t0, t1 = _when(start, zone), _when(end, zone)
    except ValueError:
        return "Error: start and end must be ISO date-times."
    if problem := _range_error(t0, t1):
        return problem
    body = {"summary": summary, "description": description,
            "start": {"dateTime": t0.isoformat(), "timeZone": str(zone)},
            "end": {"dateTime": t1.isoformat(), "timeZone": str(zone)}}

    async def call(token: ProviderToken) -> str:
        event = await _execute(token, lambda svc: svc.events().insert(calendarId="primary", body=body))
        return "Created event:\n" + _format_event(event, zone) + f"\nLink: {event.get('htmlLink', '')}"

    return await call_with_token("create_calendar_event", tool_call_id, GOOGLE, WRITE_SCOPES, call)


CALENDAR_TOOLS = [list_calendar_events, check_availability, create_calendar_event]

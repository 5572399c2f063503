"""Google Calendar tools on google-api-python-client.

The client is synchronous, so every call runs in a worker thread. Results are trimmed to what the model
needs (time, title, a few fields) and shown in the user's time zone.

Creating an event happens exactly once across retries, timeouts, replays and crashes: the insert carries
a client-chosen event id derived from (thread, tool call), is never retried by the client library, and a
409 "already exists" for that id means an earlier attempt of ours got through — the existing event is
fetched and reported as created.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import google.auth.exceptions
import google_auth_httplib2
import httplib2
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from pydantic import Field

from auth.token_vault import ProviderToken

from .context import current_context
from .protect import ToolCall, protected_tool
from .provider_errors import (
    ProviderConflict,
    ProviderError,
    ProviderInsufficientScope,
    ProviderUnauthorized,
    ProviderUnreachable,
)
from .providers import GOOGLE
from .zones import check_year, resolve_zone

MAX_EVENTS = 25


def _service(token: ProviderToken) -> Any:
    settings = current_context().services.settings
    # Our own timeout (the library's default is a minute) on an authorized httplib2 client.
    http = google_auth_httplib2.AuthorizedHttp(Credentials(token.access_token),
                                               http=httplib2.Http(timeout=settings.http_timeout_seconds))
    return build("calendar", "v3", http=http, static_discovery=True, cache_discovery=False,
                 client_options={"api_endpoint": settings.google_api_base_url.rstrip("/") + "/calendar/v3/"})


async def _execute(token: ProviderToken, make_request: Any, *, num_retries: int = 1) -> dict[str, Any]:
    """Build and execute a request in a worker thread, mapping Google's failures to ours. Writes pass
    `num_retries=0`: the library would resend a POST after a timeout without knowing if it landed."""
    def run() -> dict[str, Any]:
        return make_request(_service(token)).execute(num_retries=num_retries)

    try:
        return await asyncio.to_thread(run)
    except Exception as exc:
        raise google_error(exc) from exc


def google_error(exc: Exception) -> ProviderError:
    """What google-api-python-client (and google-auth, httplib2 under it) raised, in our terms — the one
    place Google's failures are mapped, as httpx maps httpcore's."""
    if isinstance(exc, google.auth.exceptions.RefreshError):  # how a bare-token 401 surfaces (docs/protocols.md §6)
        return ProviderUnauthorized("Google rejected the access token")
    if isinstance(exc, HttpError):
        if exc.status_code == 401:
            return ProviderUnauthorized("Google rejected the access token")
        if exc.status_code == 403 and "insufficientPermissions" in str(exc.content):
            return ProviderInsufficientScope("more Calendar access is needed")
        if exc.status_code == 409:
            return ProviderConflict("the event already exists")
        return ProviderError(f"Google Calendar answered {exc.status_code}: {exc.reason}")
    # No complete answer: a timeout, a refused or dropped connection, a truncated body
    # (http.client.IncompleteRead), invalid JSON from a cut-off answer, an httplib2 error.
    return ProviderUnreachable(f"Google Calendar could not be reached ({type(exc).__name__})")


def _zone() -> tuple[ZoneInfo, str | None]:
    """The user's zone, or UTC and a note when the context names no real IANA zone."""
    context = current_context()
    zone, note = resolve_zone(context.timezone)
    return zone, note or getattr(context, "timezone_note", None)


def _noted(note: str | None, text: str) -> str:
    return f"{note}\n{text}" if note else text


def _when(value: str, zone: ZoneInfo) -> datetime:
    """An ISO date or date-time from the model, made timezone-aware in the user's zone, years 1970–2100
    (ValueError otherwise: year 9999 would overflow the day arithmetic and Google would refuse it). A date
    alone is that day's midnight — as an end, exclusive, as the tools' descriptions say."""
    value = value.strip()
    try:
        if len(value) == 10:
            day = check_year(datetime.combine(date.fromisoformat(value), time(0))).date()
            return datetime.combine(day, time(0), zone)
        parsed = check_year(datetime.fromisoformat(value.replace("Z", "+00:00")))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    except OverflowError as exc:
        raise ValueError("that date is out of range") from exc


def event_id_for(thread_id: str, tool_call_id: str) -> str:
    """A Google event id for one tool call of one thread: the same on every replay and retry, so Google
    itself refuses a second copy. base32hex (0–9, a–v) of a SHA-256, 32 characters (Google allows 5–1024)."""
    digest = hashlib.sha256(f"vault-agent:{thread_id}:{tool_call_id}".encode()).digest()
    return base64.b32hexencode(digest).decode().lower().rstrip("=")[:32]


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
    """The (start, end) the model asked for — the end exclusive, a missing end meaning the end of the start
    day — or the error sentence to hand back to the model."""
    try:
        t0 = _when(start, zone)
        t1 = _when(end, zone) if end else datetime.combine(t0.date() + timedelta(days=1), time(0), zone)
    except ValueError as exc:
        return _date_error(exc)
    if end and t1 <= t0 and len(end.strip()) == 10:
        return ("Error: the end is exclusive, so it must be after the start: for one whole day, give the next "
                "day as the end or no end at all.")
    return _range_error(t0, t1) or (t0, t1)


def _date_error(exc: ValueError) -> str:
    if "between the years" in str(exc) or "out of range" in str(exc):
        return f"Error: {exc}."
    return "Error: start and end must be ISO dates or date-times (e.g. 2026-11-25 or 2026-11-25T10:00:00+00:00)."


def _check_window(start: str, end: str | None = None) -> str | None:
    window = _window(start, end, _zone()[0])
    return window if isinstance(window, str) else None


def _check_event(start: str, end: str, **_: Any) -> str | None:
    zone = _zone()[0]
    try:
        return _range_error(_when(start, zone), _when(end, zone))
    except ValueError as exc:
        return _date_error(exc)


def _zone_note() -> str | None:
    return _zone()[1]


@protected_tool(GOOGLE, capability="read", status="Reading your Google Calendar…", check=_check_window,
                note=_zone_note)
async def list_calendar_events(
    token: ProviderToken,
    start: Annotated[str, Field(description="Start of the range: ISO date (2026-11-25) or date-time with offset")],
    end: Annotated[str | None, Field(description="End of the range (exclusive); defaults to the end of the start day")] = None,
) -> str:
    """List the user's Google Calendar events in a time range (e.g. today, tomorrow, this week).
    Use it for questions like "what's on my calendar tomorrow?"."""
    zone = _zone()[0]
    t0, t1 = _window(start, end, zone)  # checked before the token was fetched
    data = await _execute(token, lambda svc: svc.events().list(
        calendarId="primary", timeMin=t0.isoformat(), timeMax=t1.isoformat(), singleEvents=True,
        orderBy="startTime", maxResults=MAX_EVENTS, timeZone=str(zone)))
    items = data.get("items", [])
    header = f"Events from {t0:%a %d %b %Y %H:%M} to {t1:%a %d %b %Y %H:%M} ({zone}):"
    if not items:
        return header + "\n(no events)"
    more = "\n(more events not shown)" if data.get("nextPageToken") else ""
    return header + "\n" + "\n".join(_format_event(e, zone) for e in items) + more


@protected_tool(GOOGLE, capability="freebusy", status="Checking your availability…", check=_check_window,
                note=_zone_note)
async def check_availability(
    token: ProviderToken,
    start: Annotated[str, Field(description="Start of the window: ISO date or date-time with offset")],
    end: Annotated[str | None, Field(description="End of the window (exclusive); defaults to the end of the start day")] = None,
) -> str:
    """Tell when the user is busy or free in a time window (Google Calendar free/busy). Use it for
    "am I free tomorrow afternoon?" — it returns busy intervals only, no event details."""
    zone = _zone()[0]
    t0, t1 = _window(start, end, zone)  # checked before the token was fetched
    data = await _execute(token, lambda svc: svc.freebusy().query(body={
        "timeMin": t0.isoformat(), "timeMax": t1.isoformat(), "timeZone": str(zone),
        "items": [{"id": "primary"}]}))
    busy = data.get("calendars", {}).get("primary", {}).get("busy", [])
    if not busy:
        return f"Free the whole time from {t0:%a %d %b %H:%M} to {t1:%a %d %b %H:%M} ({zone})."
    lines = [f"- busy {datetime.fromisoformat(b['start'].replace('Z', '+00:00')).astimezone(zone):%a %H:%M}"
             f"–{datetime.fromisoformat(b['end'].replace('Z', '+00:00')).astimezone(zone):%H:%M}" for b in busy]
    return f"Busy intervals between {t0:%a %d %b %H:%M} and {t1:%a %d %b %H:%M} ({zone}):\n" + "\n".join(lines)


@protected_tool(GOOGLE, capability="write", status="Creating a calendar event…", check=_check_event,
                note=_zone_note)
async def create_calendar_event(
    token: ProviderToken,
    summary: Annotated[str, Field(description="Title of the event", min_length=1, max_length=300)],
    start: Annotated[str, Field(description="Start: ISO date-time with offset, e.g. 2026-11-25T10:00:00+00:00")],
    end: Annotated[str, Field(description="End: ISO date-time with offset")],
    call: ToolCall,
    description: Annotated[str, Field(description="Optional notes", max_length=4000)] = "",
) -> str:
    """Create an event in the user's primary Google Calendar. Only when the user asked for it."""
    zone = _zone()[0]
    body = {"id": event_id_for(call.thread_id, call.tool_call_id), "summary": summary, "description": description,
            "start": {"dateTime": _when(start, zone).isoformat(), "timeZone": str(zone)},
            "end": {"dateTime": _when(end, zone).isoformat(), "timeZone": str(zone)}}
    event = await insert_once(token, body)
    return "Created event:\n" + _format_event(event, zone) + f"\nLink: {event.get('htmlLink', '')}"


async def insert_once(token: ProviderToken, body: dict[str, Any]) -> dict[str, Any]:
    """Insert the event with its client-chosen id exactly once. After a timeout or a dropped answer the
    insert is sent once more — safe only because of the id: if the first one landed, Google answers 409
    and the event it created is fetched and returned."""
    def insert(svc: Any) -> Any:
        return svc.events().insert(calendarId="primary", body=body)

    def existing(svc: Any) -> Any:
        return svc.events().get(calendarId="primary", eventId=body["id"])

    for attempt in range(2):
        try:
            return await _execute(token, insert, num_retries=0)
        except ProviderConflict:
            return await _execute(token, existing)
        except ProviderUnreachable:
            if attempt:
                raise
    raise AssertionError("unreachable")


CALENDAR_TOOLS = [list_calendar_events, check_availability, create_calendar_event]

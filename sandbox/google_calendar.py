"""Google Calendar v3 stand-in (`/calendar/v3/`): events.list, events.get, events.insert, freeBusy.query,
with Google's error bodies for bad tokens (401) and missing scopes (403). Data lives per Google account in
`world.data["google"][account_user_id]`.

events.insert accepts a client-chosen `id` as Google does: base32hex characters (a–v, 0–9), 5 to 1024 of
them, else 400 "Invalid resource id value."; an id that already exists in the calendar is answered with
Google's 409 `duplicate` / ALREADY_EXISTS body and nothing is created."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .world import ProviderAccount, World

SCOPE = "https://www.googleapis.com/auth/"
READ = {SCOPE + s for s in ("calendar", "calendar.readonly", "calendar.events", "calendar.events.readonly")}
WRITE = {SCOPE + s for s in ("calendar", "calendar.events")}
FREEBUSY = READ | {SCOPE + "calendar.freebusy"}
PAGE_DEFAULT = 250
EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
DUPLICATE_MESSAGE = "The requested identifier already exists."


def seed_google(world: World, account: ProviderAccount, tz: str = "UTC") -> None:
    """A calendar for a fresh account: tomorrow's standup and design review, a 1:1 today, more later."""
    zone = ZoneInfo(tz)
    today = datetime.now(zone).date()
    tomorrow = today + timedelta(days=1)

    def at(day: date, hh: int, mm: int, minutes: int, summary: str) -> dict[str, Any]:
        start = datetime.combine(day, time(hh, mm), zone)
        return _event(summary, {"dateTime": start.isoformat(), "timeZone": tz},
                      {"dateTime": (start + timedelta(minutes=minutes)).isoformat(), "timeZone": tz},
                      account.email)

    events = [
        at(tomorrow, 9, 30, 30, "Team standup"),
        at(tomorrow, 14, 0, 60, "Design review with Priya"),
        at(today, 16, 0, 30, "1:1 with Sam"),
        at(today + timedelta(days=7), 11, 0, 60, "Quarterly planning"),
        _event("Company offsite", {"date": (today + timedelta(days=3)).isoformat()},
               {"date": (today + timedelta(days=4)).isoformat()}, account.email),
    ]
    world.data.setdefault("google", {})[account.user_id] = {"tz": tz, "events": events}


def _event(summary: str, start: dict[str, str], end: dict[str, str], organizer: str, event_id: str = "",
           **extra: Any) -> dict[str, Any]:
    event_id = event_id or secrets.token_hex(13)  # hex is a subset of base32hex, like Google's own ids
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {"kind": "calendar#event", "etag": f'"{secrets.randbelow(10**15)}"', "id": event_id,
            "status": "confirmed", "htmlLink": f"https://calendar.example/event?eid={event_id}",
            "created": now, "updated": now, "summary": summary,
            "creator": {"email": organizer, "self": True}, "organizer": {"email": organizer, "self": True},
            "start": start, "end": end, "iCalUID": f"{event_id}@google.example", "sequence": 0,
            "eventType": "default", **extra}


def _error(code: int, reason: str, message: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"error": {"code": code, "message": message,
                                      "errors": [{"message": message, "domain": "global", "reason": reason}]}}
    body["error"].update(extra)
    return JSONResponse(body, code)


def _unauthorized() -> JSONResponse:
    return JSONResponse({"error": {"errors": [{"domain": "global", "reason": "authError",
                                               "message": "Invalid Credentials", "locationType": "header",
                                               "location": "Authorization"}],
                                   "code": 401, "message": "Invalid Credentials"}}, 401,
                        headers={"www-authenticate": 'Bearer realm="https://accounts.google.com/"'})


def _insufficient() -> JSONResponse:
    return JSONResponse({"error": {"code": 403, "message": "Request had insufficient authentication scopes.",
                                   "errors": [{"message": "Insufficient Permission", "domain": "global",
                                               "reason": "insufficientPermissions"}],
                                   "status": "PERMISSION_DENIED"}}, 403)


def _calendar(request: Request, needed: set[str]) -> tuple[dict[str, Any] | None, JSONResponse | None]:
    world: World = request.app.state.world
    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else ""
    grant = world.lookup_provider_token("google-oauth2", token)
    if grant is None:
        return None, _unauthorized()
    if not grant.scopes & needed:
        return None, _insufficient()
    calendar_id = request.path_params.get("calendar_id", "primary")
    account = world.provider_account("google-oauth2", grant.user_id)
    if calendar_id not in ("primary", account.email if account else ""):
        return None, _error(404, "notFound", "Not Found")
    return world.data.setdefault("google", {}).setdefault(grant.user_id, {"tz": "UTC", "events": []}), None


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("timezone offset required")
    return parsed


def _bounds(event: dict[str, Any], tz: str) -> tuple[datetime, datetime]:
    def point(p: dict[str, str]) -> datetime:
        if "dateTime" in p:
            return datetime.fromisoformat(p["dateTime"])
        return datetime.combine(date.fromisoformat(p["date"]), time(0), ZoneInfo(tz))
    return point(event["start"]), point(event["end"])


async def list_events(request: Request) -> JSONResponse:
    calendar, denied = _calendar(request, READ)
    if denied:
        return denied
    q = request.query_params
    try:
        time_min, time_max = _parse_time(q.get("timeMin")), _parse_time(q.get("timeMax"))
        max_results = min(int(q.get("maxResults", PAGE_DEFAULT)), 2500)
        offset = int(q.get("pageToken") or 0)
    except ValueError:
        return _error(400, "badRequest", "Bad Request")
    single = q.get("singleEvents", "false").lower() == "true"
    order = q.get("orderBy")
    if order == "startTime" and not single:
        return _error(400, "badRequest", "The requested ordering is not available for the particular query.")
    items = []
    for event in calendar["events"]:
        start, end = _bounds(event, calendar["tz"])
        if time_min and end <= time_min:
            continue
        if time_max and start >= time_max:
            continue
        if q.get("q") and q["q"].lower() not in event.get("summary", "").lower():
            continue
        items.append(event)
    if order == "startTime":
        items.sort(key=lambda e: _bounds(e, calendar["tz"])[0])
    elif order == "updated":
        items.sort(key=lambda e: e["updated"])
    page = items[offset:offset + max_results]
    body: dict[str, Any] = {"kind": "calendar#events", "etag": '"p1"', "summary": "primary",
                            "updated": datetime.now(timezone.utc).isoformat(),
                            "timeZone": q.get("timeZone", calendar["tz"]), "accessRole": "owner",
                            "defaultReminders": [], "items": page}
    if offset + max_results < len(items):
        body["nextPageToken"] = str(offset + max_results)
    return JSONResponse(body)


async def insert_event(request: Request) -> JSONResponse:
    calendar, denied = _calendar(request, WRITE)
    if denied:
        return denied
    try:
        body = await request.json()
        start, end = body["start"], body["end"]
        probe = {"start": start, "end": end}
        s, e = _bounds(probe, calendar["tz"])
    except (ValueError, KeyError, TypeError):
        return _error(400, "required", "Missing or invalid start/end time.")
    if e < s:
        return _error(400, "timeRangeEmpty", "The specified time range is empty.")
    event_id = body.get("id") or ""
    if event_id and (not isinstance(event_id, str) or not EVENT_ID.match(event_id)):
        return _error(400, "invalid", "Invalid resource id value.")
    if event_id and any(existing["id"] == event_id for existing in calendar["events"]):
        return _error(409, "duplicate", DUPLICATE_MESSAGE, status="ALREADY_EXISTS")
    extra = {k: v for k, v in body.items() if k in ("description", "location", "attendees")}
    organizer = request.app.state.world.provider_account(
        "google-oauth2", _owner(request)).email if _owner(request) else "me"
    event = _event(str(body.get("summary", "(No title)")), start, end, organizer, event_id, **extra)
    calendar["events"].append(event)
    return JSONResponse(event)


async def get_event(request: Request) -> JSONResponse:
    calendar, denied = _calendar(request, READ)
    if denied:
        return denied
    wanted = request.path_params["event_id"]
    for event in calendar["events"]:
        if event["id"] == wanted:
            return JSONResponse(event)
    return _error(404, "notFound", "Not Found")


def _owner(request: Request) -> str:
    header = request.headers.get("authorization", "")
    grant = request.app.state.world.lookup_provider_token("google-oauth2", header[7:])
    return grant.user_id if grant else ""


async def free_busy(request: Request) -> JSONResponse:
    calendar, denied = _calendar(request, FREEBUSY)
    if denied:
        return denied
    try:
        body = await request.json()
        time_min, time_max = _parse_time(body["timeMin"]), _parse_time(body["timeMax"])
    except (ValueError, KeyError, TypeError):
        return _error(400, "badRequest", "Bad Request")
    busy = []
    for event in calendar["events"]:
        start, end = _bounds(event, calendar["tz"])
        if end > time_min and start < time_max:
            busy.append({"start": max(start, time_min).astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
                         "end": min(end, time_max).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")})
    busy.sort(key=lambda b: b["start"])
    calendars = {item.get("id", "primary"): {"busy": busy} for item in body.get("items", [{"id": "primary"}])}
    return JSONResponse({"kind": "calendar#freeBusy", "timeMin": body["timeMin"], "timeMax": body["timeMax"],
                         "calendars": calendars})


def create_app(world: World) -> Starlette:
    app = Starlette(routes=[
        Route("/calendar/v3/calendars/{calendar_id}/events", list_events, methods=["GET"]),
        Route("/calendar/v3/calendars/{calendar_id}/events", insert_event, methods=["POST"]),
        Route("/calendar/v3/calendars/{calendar_id}/events/{event_id}", get_event, methods=["GET"]),
        Route("/calendar/v3/freeBusy", free_busy, methods=["POST"]),
    ])
    app.state.world = world
    return app

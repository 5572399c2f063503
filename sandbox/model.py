"""An OpenAI-compatible `/v1/chat/completions` served by a **scripted, deterministic** stand-in — not an
LLM. It picks tools from the request's `tools` by keywords in the last user message, fills their
arguments from their JSON schema, and after tool results answers with a summary that quotes them.
Real use goes to OpenAI or any OpenAI-compatible server; this exists so the agent runs offline.

Every request body is kept in `world.data["openai_requests"]` so tests can check what the model saw.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from .world import World

MODEL_ID = "sandbox-scripted-1"

# (tool-name keywords, message keywords) in priority order; the first rule whose message keywords match
# and whose tool exists wins. "both"/"and github" style requests get one call per provider.
_RULES: list[tuple[str, tuple[str, ...]]] = [
    ("create_github_issue", ("create an issue", "open an issue", "file an issue", "new issue")),
    ("create_calendar_event", ("create an event", "schedule", "add an event", "book a", "create a meeting")),
    ("check_availability", ("free", "busy", "available", "availability")),
    ("list_github_issues", ("issues",)),
    ("list_github_repositories", ("repo", "repositories", "github")),
    ("list_calendar_events", ("calendar", "event", "meeting", "agenda", "schedule", "tomorrow", "today",
                              "week", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                              "sunday")),
]

# words of a tool name that say nothing about which tool the user means
_GENERIC_WORDS = {"list", "get", "create", "check", "read", "on", "my", "the", "a", "of", "in", "for", "to", "me",
                  "am", "i", "is", "who", "what"}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _zone(messages: list[dict[str, Any]]) -> ZoneInfo:
    for message in messages:
        if message.get("role") == "system":
            match = re.search(r"time zone[^A-Za-z]*([A-Za-z_]+(?:/[A-Za-z_+-]+)*)", _text(message["content"]),
                              re.I)
            if match:
                try:
                    return ZoneInfo(match.group(1))
                except (ZoneInfoNotFoundError, ValueError):
                    pass
    return ZoneInfo("UTC")


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _days(message: str, zone: ZoneInfo) -> tuple[date, int]:
    """The first day the message asks about and how many days: today/tomorrow/yesterday, a weekday name
    ("on Friday" = the next Friday, today included; "next Friday" = Friday of next week), "this week" (today
    to Sunday), "next week" (Monday to Sunday) or an ISO date; today when it names none."""
    today = datetime.now(zone).date()
    if match := re.search(r"\b(\d{4}-\d{2}-\d{2})\b", message):
        try:
            return date.fromisoformat(match.group(1)), 1
        except ValueError:
            pass
    if "next week" in message:
        return today + timedelta(days=7 - today.weekday()), 7
    if "this week" in message:
        return today, 7 - today.weekday()
    if match := re.search(r"\b(next|this|on|for)?\s*(" + "|".join(WEEKDAYS) + r")\b", message):
        ahead = (WEEKDAYS.index(match.group(2)) - today.weekday()) % 7
        if match.group(1) == "next":
            ahead = 7 - today.weekday() + WEEKDAYS.index(match.group(2))
        return today + timedelta(days=ahead), 1
    if "tomorrow" in message:
        return today + timedelta(days=1), 1
    if "yesterday" in message:
        return today - timedelta(days=1), 1
    return today, 1


def _repo(message: str) -> str:
    """`owner/name` when given; else the bare name in "my NAME repo" / "repository NAME" (the tool resolves
    it against the signed-in user's login)."""
    if match := re.search(r"(?<![\w.-])([\w.-]+/[\w.-]+)", message):  # as typed, dots included ("x/..")
        return re.sub(r"(?<=\w)[.,;:!?]$", "", match.group(1))  # a sentence's full stop is not part of it
    for pattern in (r"\bmy ([\w.-]+) (?:repo|repository)\b", r"\b(?:repo|repository) ([\w.-]*[-_.][\w.-]*)\b",
                    r"\b(?:in|of|for) ([\w.-]+[-_.][\w.-]+)\b"):
        if match := re.search(pattern, message, re.I):
            return match.group(1)
    return ""


def _plus(moment: datetime, delta: timedelta) -> datetime:
    """`moment + delta`, or the last moment a datetime holds: on 9999-12-31 the model still answers (a
    real one would pass the date on) and the tool says which dates it accepts."""
    try:
        return moment + delta
    except OverflowError:
        return datetime.max.replace(tzinfo=moment.tzinfo)


def _arguments(schema: dict[str, Any], message: str, zone: ZoneInfo) -> dict[str, Any]:
    day, days = _days(message.lower(), zone)
    start = datetime.combine(day, datetime.min.time(), zone)
    hour = re.search(r"\bat (\d{1,2})(?::(\d{2}))?\s*(am|pm)?", message.lower())
    if hour:
        h = int(hour.group(1)) % 12 + (12 if hour.group(3) == "pm" else 0)
        if hour.group(3) is None and int(hour.group(1)) >= 12:
            h = int(hour.group(1))
        event_start = start.replace(hour=h, minute=int(hour.group(2) or 0))
    else:
        event_start = start.replace(hour=10)
    quoted = re.search(r"[\"“']([^\"”']+)[\"”']", message)
    repo = _repo(message)
    values = {
        "start": start.isoformat(), "end": _plus(start, timedelta(days=days)).isoformat(),
        "time_min": start.isoformat(), "time_max": _plus(start, timedelta(days=days)).isoformat(),
        "day": day.isoformat(), "date": day.isoformat(),
        "repo": repo, "repository": repo,
        "title": quoted.group(1) if quoted else "New issue", "summary": quoted.group(1) if quoted else "Meeting",
        "body": "", "description": "",
    }
    if "event" in " ".join(schema.get("properties", {})) or "summary" in schema.get("properties", {}):
        values["start"], values["end"] = event_start.isoformat(), _plus(event_start, timedelta(hours=1)).isoformat()
    args = {}
    for name in schema.get("properties", {}):
        if name in values and (values[name] or name in schema.get("required", [])):
            args[name] = values[name]
    return args


def _plan_tool_calls(tools: list[dict[str, Any]], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    message = _text(messages[-1].get("content"))
    lowered = message.lower()
    by_name = {t["function"]["name"]: t["function"] for t in tools if t.get("type") == "function"}
    chosen: list[str] = []
    wants_both = " and " in lowered or " both" in lowered  # one call per provider the message names
    for tool_name, keywords in _RULES:
        if tool_name in by_name and any(k in lowered for k in keywords):
            if not chosen:
                chosen.append(tool_name)
            elif wants_both and _provider(tool_name) not in {_provider(c) for c in chosen}:
                chosen.append(tool_name)
    if not chosen:  # any other tool (a developer's own): the first whose distinctive name word is mentioned
        words = set(re.findall(r"[a-z0-9]+", lowered))
        chosen = [name for name in by_name if words & (set(name.lower().split("_")) - _GENERIC_WORDS)][:1]
    zone = _zone(messages)
    return [{"id": "call_" + secrets.token_hex(8), "type": "function",
             "function": {"name": name, "arguments": json.dumps(
                 _arguments(by_name[name].get("parameters", {}), message, zone))}}
            for name in chosen]


def _provider(tool_name: str) -> str:
    return "github" if "github" in tool_name else "calendar"


def _summary(messages: list[dict[str, Any]]) -> str:
    results = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.append(_text(message.get("content")))
    results.reverse()
    if not results:
        return "Hello! I can read your Google Calendar and your GitHub repositories. What would you like?"
    parts = []
    for text in results:
        refused = re.search(r"the user (declined|did not complete) access to (.+?), so (\w+) could not run", text)
        if refused:
            what = TOOL_WORDS.get(refused.group(3), "do that")
            parts.append(f"You declined access to {refused.group(2)}, so I could not {what}. Ask again whenever "
                         "you want to allow it." if refused.group(1) == "declined" else
                         f"The authorization for {refused.group(2)} was not completed, so I could not {what}. "
                         "Ask again to get a new link.")
        elif text.lower().startswith(("error", "authorization", "i could not", "could not")):
            parts.append(f"I couldn't complete that: {text}")
        else:
            parts.append(f"Here is what I found:\n{text}")
    return "\n\n".join(parts)


TOOL_WORDS = {
    "list_calendar_events": "read your calendar", "check_availability": "check your availability",
    "create_calendar_event": "create the event", "list_github_repositories": "list your repositories",
    "list_github_issues": "read the issues", "create_github_issue": "open the issue",
}


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages") or []
    tools = body.get("tools") or []
    last = messages[-1] if messages else {"role": "user", "content": ""}
    calls = _plan_tool_calls(tools, messages) if last.get("role") == "user" and tools else []
    message: dict[str, Any] = {"role": "assistant", "content": None if calls else (
        _summary(messages) if last.get("role") == "tool" else _reply())}
    if calls:
        message["tool_calls"] = calls
    return message


def _reply() -> str:
    return ("I'm the vault-agent sandbox model (a scripted stand-in). Ask me about your calendar "
            "(\"what's on my calendar tomorrow?\") or GitHub (\"list my repositories\").")


def _usage(body: dict[str, Any], message: dict[str, Any]) -> dict[str, int]:
    prompt = sum(len(_text(m.get("content")).split()) for m in body.get("messages") or [])
    completion = len((message.get("content") or "").split()) + 10 * len(message.get("tool_calls") or [])
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _chunks(completion_id: str, message: dict[str, Any], usage: dict[str, int] | None) -> Iterator[str]:
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": MODEL_ID, "system_fingerprint": "fp_sandbox"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return "data: " + json.dumps({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                           "finish_reason": finish}]}) + "\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for index, call in enumerate(message.get("tool_calls") or []):
        yield chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                     "function": {"name": call["function"]["name"], "arguments": ""}}]})
        yield chunk({"tool_calls": [{"index": index, "function": {"arguments": call["function"]["arguments"]}}]})
    for piece in re.findall(r"\S+\s*|\s+", message.get("content") or ""):
        yield chunk({"content": piece})
    yield chunk({}, "tool_calls" if message.get("tool_calls") else "stop")
    if usage is not None:
        yield "data: " + json.dumps({**base, "choices": [], "usage": usage}) + "\n\n"
    yield "data: [DONE]\n\n"


def _unauthorized() -> JSONResponse:
    return JSONResponse({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                   "param": None, "code": "invalid_api_key"}}, 401)


async def chat_completions(request: Request) -> Any:
    if not request.headers.get("authorization", "").startswith("Bearer sk-sandbox"):
        return _unauthorized()
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": {"message": "Invalid JSON body.", "type": "invalid_request_error"}}, 400)
    request.app.state.world.data.setdefault("openai_requests", []).append(body)
    message = _completion(body)
    completion_id = "chatcmpl-" + secrets.token_hex(12)
    usage = _usage(body, message)
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(_chunks(completion_id, message, usage if include_usage else None),
                                 media_type="text/event-stream")
    return JSONResponse({"id": completion_id, "object": "chat.completion", "created": int(time.time()),
                         "model": MODEL_ID, "system_fingerprint": "fp_sandbox",
                         "choices": [{"index": 0, "message": {**message, "refusal": None}, "logprobs": None,
                                      "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
                         "usage": usage})


async def models(_request: Request) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0,
                                                     "owned_by": "vault-agent-sandbox"}]})


def create_app(world: World) -> Starlette:
    app = Starlette(routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"]),
                            Route("/v1/models", models)])
    app.state.world = world
    return app

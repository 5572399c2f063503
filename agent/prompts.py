"""The system prompt: who the agent is, today's date and the user's time zone (so "tomorrow" means the
user's tomorrow)."""

from __future__ import annotations

from datetime import datetime

from tools.zones import resolve_zone

SYSTEM_PROMPT = """You are vault-agent, an assistant that acts on the user's behalf on Google Calendar \
and GitHub through the tools you have.
Current date and time: {now}.
User time zone: {timezone}.
Use the tools to answer; never invent events, repositories or issues. Dates you pass to tools are ISO \
8601 in the user's time zone. If a tool says authorization is required or was declined, tell the user \
plainly and offer to try again. Keep answers short."""


def system_prompt(timezone: str) -> str:
    zone, note = resolve_zone(timezone)  # an unknown or malicious name falls back to UTC
    now = datetime.now(zone)
    return SYSTEM_PROMPT.format(now=now.strftime("%A %Y-%m-%d %H:%M %Z"), timezone=f"{zone} ({note})" if note else zone)

"""A date-only `end` is exclusive, as the Calendar tools' descriptions tell the model: end=tomorrow means
"up to tomorrow 00:00", not "through tomorrow". Run through the compiled graph's tools node against the
sandbox (the scripted model always sends date-times, so the call is put in the thread as the model's)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from langchain_core.messages import AIMessage, ToolMessage

CAL_READ = "https://www.googleapis.com/auth/calendar.readonly"


async def _call(harness, args: dict) -> str:
    await harness.graph.aupdate_state(harness.thread, {"messages": [
        ("user", "what's on my calendar?"),
        AIMessage("", tool_calls=[{"name": "list_calendar_events", "args": args, "id": "call_dates"}])]},
        as_node="call_model")
    state = await harness.graph.ainvoke(None, harness.thread, context=harness.context)
    [reply] = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    return reply.content


async def test_date_only_end_is_exclusive(harness, control):
    control.seed_tokenset(harness.user["user_id"], "google-oauth2", [CAL_READ])
    today = datetime.now(timezone.utc).date()  # the harness runs in UTC, as the sandbox seeded the calendar
    text = await _call(harness, {"start": today.isoformat(), "end": (today + timedelta(days=1)).isoformat()})
    assert "1:1 with Sam" in text  # today 16:00
    assert "Team standup" not in text  # tomorrow 09:30: after the exclusive end


async def test_the_same_day_as_start_and_end_says_why(harness, control):
    control.seed_tokenset(harness.user["user_id"], "google-oauth2", [CAL_READ])
    today = datetime.now(timezone.utc).date().isoformat()
    text = await _call(harness, {"start": today, "end": today})
    assert text.startswith("Error: the end is exclusive") and "next day" in text

"""README › Configuration: on the LangGraph server a run that names no `context.timezone` reads "tomorrow"
in `VAULT_AGENT_TIMEZONE` (this package's server runs with Asia/Tokyo); one that names a zone uses it."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from langgraph_sdk import get_client

ASK = {"messages": [{"role": "user", "content": "What's on my calendar tomorrow?"}]}


async def test_a_run_without_a_zone_uses_the_servers_setting(linking_server, control, user):
    control.seed_tokenset(user["user_id"], "google-oauth2", ["https://www.googleapis.com/auth/calendar.readonly"])
    tokens = control.session(user["user_id"], audience="https://vault-agent.sandbox/api")
    client = get_client(url=linking_server["url"], headers={"Authorization": f"Bearer {tokens['access_token']}"})
    answers = {}
    for name, kwargs in (("none", {}), ("london", {"context": {"timezone": "Europe/London"}})):
        thread = await client.threads.create()
        await client.runs.wait(thread["thread_id"], "agent", input=ASK, **kwargs)
        answers[name] = (await client.threads.get_state(thread["thread_id"]))["values"]["messages"][-1]["content"]
    # Tokyo's tomorrow (the sandbox seeds the standup on UTC's tomorrow, another day from 15:00 UTC on).
    tokyo_tomorrow = (datetime.now(ZoneInfo("Asia/Tokyo")) + timedelta(days=1)).strftime("%a %d %b %Y")
    assert "(Asia/Tokyo)" in answers["none"] and f"Events from {tokyo_tomorrow} 00:00" in answers["none"]
    assert "(Europe/London)" in answers["london"] and "Asia/Tokyo" not in answers["london"]

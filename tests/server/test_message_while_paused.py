"""A message sent to the server (`langgraph dev`, and Aegra) while the thread's pause waits — as Agent Chat
UI sends it (a made-up reply "Successfully handled tool call." with an id `do-not-render-…` for every
unanswered tool call, then the message), and as a plain client sends it. The pause must be kept with its link, and after
Allow (the server's own callback resumes the thread) the first question is answered, then the new one;
no AI tool call is left without its real reply."""

from __future__ import annotations

import uuid

import httpx
import pytest
from server_helpers import client_for, messages, pause, wait_idle

STREAM_MODES = ["values", "messages-tuple", "updates", "custom"]  # what Agent Chat UI's useStream asks for


async def send(client, thread_id: str, new_messages: list[dict]) -> dict:
    """Submit a message the way the UI does; the last values the run streamed."""
    last: dict = {}
    async for part in client.runs.stream(thread_id, "agent", input={"messages": new_messages},
                                         stream_mode=STREAM_MODES):
        assert part.event != "error", part.data
        if part.event == "values":
            last = part.data
    return last


@pytest.mark.parametrize("ui_reply", [True, False], ids=["agent-chat-ui", "plain client"])
async def test_a_message_while_paused_keeps_the_pause_and_both_questions_are_answered(
        engine_server, control, user, ui_reply):
    client, _ = client_for(engine_server, control, user)
    thread_id = (await client.threads.create())["thread_id"]
    first = await pause(client, thread_id)
    [call] = (await messages(client, thread_id))[-1]["tool_calls"]
    made_up = [{"type": "tool", "tool_call_id": call["id"], "name": call["name"], "content":
                "Successfully handled tool call.", "id": f"do-not-render-{uuid.uuid4()}"}] if ui_reply else []
    shown = await send(client, thread_id, [*made_up, {"type": "human", "content": "hello"}])

    [again] = (await client.threads.get_state(thread_id))["interrupts"]
    assert (again["value"]["state"], again["value"]["authorize_url"]) == (first["state"], first["authorize_url"])
    assert [i["value"]["state"] for i in shown["__interrupt__"]] == [first["state"]]  # the card again
    assert not [m for m in shown["messages"] if m["type"] == "tool"]

    assert httpx.get(control.authorize(first["authorize_url"], user["user_id"]), timeout=60).status_code == 200
    assert (await wait_idle(client, thread_id))["status"] == "idle"
    state = await client.threads.get_state(thread_id)
    history = state["values"]["messages"]
    assert [m["type"] for m in history] == ["human", "ai", "tool", "ai", "human", "ai"]
    assert history[2]["tool_call_id"] == call["id"] and "Team standup" in history[2]["content"]
    assert "Team standup" in history[3]["content"]  # the first question, answered after Allow
    assert history[4]["content"] == "hello" and "sandbox model" in history[5]["content"]
    assert not state["values"].get("held") and not state["interrupts"]

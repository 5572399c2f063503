"""A tool call never left without its reply.

LangGraph drops a thread's unfinished task when new input arrives. So a new message in a thread whose
latest AI tool call has no real reply — the run paused for authorization, or died in the middle of the
tool (a crash, Ctrl-C) — would leave that call unanswered, and OpenAI refuses such a history (400). The
graph settles it first: `settle` holds the new message (state["held"]) and drops replies a client made
up, the call runs again with the same tool call id (so the same idempotency key: a write lands once, a
pause comes back with its link), the model answers the question the call belonged to, and `release`
then lets the held message go on. Agent Chat UI's made-up reply (id `do-not-render-…`, "Successfully
handled tool call.") is not the tool's answer, so the pause is not lost. `model_view` is what the model
reads: every tool call directly followed by its reply, whatever an older thread holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AIMessage, AnyMessage, RemoveMessage, ToolMessage
from langchain_core.messages.tool import ToolCall

from agent.state import State

SYNTHETIC_REPLY_PREFIX = "do-not-render-"  # Agent Chat UI's id for the tool replies it makes up
NOT_COMPLETED = "This tool call did not complete; nothing is known about its result."


def is_real_reply(message: AnyMessage) -> bool:
    """A tool's own answer, not one a client made up for a call it saw unanswered."""
    return isinstance(message, ToolMessage) and not str(message.id or "").startswith(SYNTHETIC_REPLY_PREFIX)


def unsettled(messages: Sequence[AnyMessage]) -> tuple[int, list[ToolCall]]:
    """The index of the latest AI message and those of its tool calls no real reply answers (an empty list
    when all are answered, or when that message asked for no tool)."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, AIMessage):
            answered = {m.tool_call_id for m in messages[index + 1:] if is_real_reply(m)}
            return index, [call for call in message.tool_calls if call["id"] not in answered]
    return -1, []


def settle(state: State) -> dict:
    """On new input: if the latest AI tool calls are unsettled, hold what came after them (the new
    message) and drop made-up replies; the calls then run again (`route_settled`)."""
    messages = state["messages"]
    index, calls = unsettled(messages)
    if not calls:
        return {}
    after = messages[index + 1:]
    held = [m for m in after if not isinstance(m, ToolMessage)]
    dropped = [m for m in after if isinstance(m, ToolMessage) and not is_real_reply(m)]
    return {"messages": [RemoveMessage(id=str(m.id)) for m in (*held, *dropped)],
            "held": [*state.get("held", []), *held]}


def release(state: State) -> dict:
    """The held messages, now that the question before them is answered."""
    return {"messages": list(state.get("held", [])), "held": []}


def model_view(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """The history as the model must read it: each AI tool call directly followed by its reply. A call with
    no real reply (a thread broken before this rule existed, or answered only by a client's made-up
    reply) reads as not completed — OpenAI refuses a history with an unanswered tool call, and "handled"
    would be untrue. Replies that answer no call are left out."""
    real = {m.tool_call_id: m for m in messages if is_real_reply(m)}
    view: list[AnyMessage] = []
    for message in messages:
        if isinstance(message, ToolMessage):
            continue  # placed right after the call it answers
        view.append(message)
        if isinstance(message, AIMessage):
            view += [real.get(call["id"]) or ToolMessage(NOT_COMPLETED, tool_call_id=call["id"], name=call["name"])
                     for call in message.tool_calls]
    return view

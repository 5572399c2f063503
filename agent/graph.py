"""The agent: call the model, run the tools it asks for, repeat until it answers.

`build_graph()` compiles it with a checkpointer and store of the caller's choosing (the CLI and the
notebooks use SQLite or Postgres); the module-level `graph` is what `langgraph.json` serves, where the
LangGraph server supplies persistence.

A new message in a thread whose last AI tool call has no real reply — the run paused for authorization,
or died in the middle of the tool (a crash, Ctrl-C) — first settles that call (`settle`): LangGraph drops
the unfinished task when new input comes, so the call is run again, with the same tool call id, hence
the same idempotency key (a write lands once), and a pause is raised again with its link. The new
message waits in `held` until the model has answered the question the call belonged to, then goes on
(`release`). A reply Agent Chat UI makes up for a call it sees unanswered (id `do-not-render-…`,
"Successfully handled tool call.") is not a real reply: it is dropped and the call settled the same way,
so the pause is not lost. What the model reads never has a tool call without its reply (`model_view`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from langchain_core.messages import AIMessage, AnyMessage, RemoveMessage, SystemMessage, ToolMessage
from langchain_core.messages.tool import ToolCall
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime
from langgraph.types import Send

from agent.model import bound_model
from agent.prompts import system_prompt
from agent.state import State
from tools.context import Context, current_context
from tools.github import GITHUB_TOOLS
from tools.google_calendar import CALENDAR_TOOLS

TOOLS = [*CALENDAR_TOOLS, *GITHUB_TOOLS]


def make_call_model(tools: Sequence[BaseTool]) -> Callable[[State, Runtime[Context]], Awaitable[dict]]:
    """The model node for `tools` (the model and its tool schemas are built once per settings)."""

    async def call_model(state: State, runtime: Runtime[Context]) -> dict:  # noqa: ARG001 - injected by name
        context = current_context()
        model = bound_model(context.services.settings, tools)
        messages = [SystemMessage(system_prompt(context.timezone)), *model_view(state["messages"])]
        return {"messages": [await model.ainvoke(messages)]}

    return call_model


call_model = make_call_model(TOOLS)

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


def _sends(state: State, calls: list[ToolCall]) -> list[Send]:
    """One task per tool call, so parallel calls that each need authorization pause together (a
    failing sibling cannot cancel them) and a finished one is not re-run on resume."""
    return [Send("tools", {"__type": "tool_call_with_context", "tool_call": call, "state": state}) for call in calls]


def route_settled(state: State) -> list[Send] | str:
    calls = unsettled(state["messages"])[1]
    return _sends(state, calls) if calls else "call_model"


def route_tool_calls(state: State) -> list[Send] | str:
    """After the model: its tool calls, else the held messages, else the end."""
    calls = unsettled(state["messages"])[1]
    if calls:
        return _sends(state, calls)
    return "release" if state.get("held") else END


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


def build_graph(*, checkpointer=None, store=None, tools: Sequence[BaseTool] | None = None):
    """The agent over `tools` (the built-in Calendar and GitHub tools by default; add your own protected
    tools with `tools=[*TOOLS, my_tool]` — see `tools/protect.py`)."""
    tools = list(tools) if tools is not None else TOOLS
    builder = StateGraph(State, context_schema=Context)
    builder.add_node("settle", settle)
    builder.add_node("call_model", call_model if tools is TOOLS else make_call_model(tools))
    builder.add_node("tools", ToolNode(tools))
    builder.add_node("release", release)
    builder.add_edge(START, "settle")
    builder.add_conditional_edges("settle", route_settled, ["tools", "call_model"])
    builder.add_conditional_edges("call_model", route_tool_calls, ["tools", "release", END])
    builder.add_edge("tools", "call_model")
    builder.add_edge("release", "call_model")
    return builder.compile(checkpointer=checkpointer, store=store, name="vault-agent")


graph = build_graph()

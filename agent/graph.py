"""The agent: call the model, run the tools it asks for, repeat until it answers.

`build_graph()` compiles it with a checkpointer and store of the caller's choosing (the CLI and the
notebooks use SQLite or Postgres); the module-level `graph` is what `langgraph.json` serves, where the
LangGraph server supplies persistence.

A new message in a thread whose last AI tool call has no real reply (a pause, a run that died in the
tool) first settles that call: `agent/settle.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from langchain_core.messages import SystemMessage
from langchain_core.messages.tool import ToolCall
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime
from langgraph.types import Send

from agent.model import bound_model
from agent.prompts import system_prompt
from agent.settle import model_view, release, settle, unsettled
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


def _sends(state: State, calls: list[ToolCall]) -> list[Send]:
    """One task per tool call, so parallel calls that each need authorization pause together (a
    failing sibling cannot cancel them) and a finished one is not re-run on resume."""
    return [Send("tools", {"__type": "tool_call_with_context", "tool_call": call, "state": state}) for call in calls]


def route_start(state: State) -> str:
    """New input goes to the model, unless a tool call is unsettled (no extra step in the common case)."""
    return "settle" if unsettled(state["messages"])[1] else "call_model"


def route_settled(state: State) -> list[Send] | str:
    """After `settle`: the unsettled calls run again (or, if a real reply came meanwhile, the model)."""
    calls = unsettled(state["messages"])[1]
    return _sends(state, calls) if calls else "call_model"


def route_tool_calls(state: State) -> list[Send] | str:
    """After the model: its tool calls, else the held messages, else the end."""
    calls = unsettled(state["messages"])[1]
    if calls:
        return _sends(state, calls)
    return "release" if state.get("held") else END


def build_graph(*, checkpointer=None, store=None, tools: Sequence[BaseTool] | None = None):
    """The agent over `tools` (the built-in Calendar and GitHub tools by default; add your own protected
    tools with `tools=[*TOOLS, my_tool]` — see `tools/protect.py`)."""
    tools = list(tools) if tools is not None else TOOLS
    builder = StateGraph(State, context_schema=Context)
    builder.add_node("settle", settle)
    builder.add_node("call_model", call_model if tools is TOOLS else make_call_model(tools))
    builder.add_node("tools", ToolNode(tools))
    builder.add_node("release", release)
    builder.add_conditional_edges(START, route_start, ["settle", "call_model"])
    builder.add_conditional_edges("settle", route_settled, ["tools", "call_model"])
    builder.add_conditional_edges("call_model", route_tool_calls, ["tools", "release", END])
    builder.add_edge("tools", "call_model")
    builder.add_edge("release", "call_model")
    return builder.compile(checkpointer=checkpointer, store=store, name="vault-agent")


graph = build_graph()

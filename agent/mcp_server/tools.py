"""The agent's Calendar and GitHub tools, run for one MCP tool call.

The tools read their user and clients from LangGraph's runtime context, so each call runs them in a
one-node graph with a `Context` built for this request: the user's access token is in it for the
length of the call and nowhere else. `ask_authorization` replaces the LangGraph interrupt, so the tools'
whole decision (cached token, Token Vault exchange, provider 401 retry, step-up to the union of scopes,
outages as sentences) and their write paths are the very same code as in the agent.

Per call, the node validates the arguments with the tool's own schema and awaits the tool's coroutine,
rather than going through LangChain's `ainvoke`: that layer's callback set-up, tracing hooks and
signature/type-hint inspection (≈ 0.3 ms of CPU per call, `bench/mcp_call.py`) do nothing on this path —
no callbacks are configured and the text is all that is kept — and what matters is the same either way:
the same validation (a `ValidationError` for bad arguments), the same injected call id, the same function.
The graph itself stays: it is what gives the tools their runtime (`get_runtime()`, `get_config()`).
"""

from __future__ import annotations

import uuid
from typing import Any, TypedDict

from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from tools.context import Context
from tools.github import GITHUB_TOOLS
from tools.google_calendar import CALENDAR_TOOLS

TOOLS: dict[str, BaseTool] = {t.name: t for t in [*CALENDAR_TOOLS, *GITHUB_TOOLS]}


class _Call(TypedDict, total=False):
    name: str
    args: dict[str, Any]
    result: str


async def _run_tool(state: _Call, runtime: Runtime[Context]) -> _Call:  # noqa: ARG001 - injected by name
    tool = TOOLS[state["name"]]
    return {"result": str(await _COROUTINES[tool.name](**arguments(tool, state["args"], f"mcp-{uuid.uuid4().hex}")))}


def arguments(tool: BaseTool, args: dict[str, Any], tool_call_id: str) -> dict[str, Any]:
    """The keyword arguments `tool.ainvoke` passes for this tool call: `args` and the injected call id,
    validated and converted by the tool's schema (its fields, defaults included; unknown keys dropped).
    Raises the schema's `ValidationError`."""
    parsed = tool.args_schema.model_validate({**args, "tool_call_id": tool_call_id})  # type: ignore[union-attr]
    return {k: getattr(parsed, k) for k in type(parsed).model_fields}


def _coroutine(tool: BaseTool) -> Any:
    coroutine = getattr(tool, "coroutine", None)
    if coroutine is None:
        raise TypeError(f"{tool.name} has no coroutine")
    return coroutine


_COROUTINES = {name: _coroutine(t) for name, t in TOOLS.items()}


_graph = (StateGraph(_Call, context_schema=Context).add_node("tool", _run_tool)
          .add_edge(START, "tool").add_edge("tool", END).compile())


def input_schema(tool: BaseTool) -> dict[str, Any]:
    """What the model fills in (the injected tool call id left out)."""
    schema = tool.tool_call_schema
    return schema.model_json_schema() if hasattr(schema, "model_json_schema") else dict(schema)


async def run_tool(name: str, args: dict[str, Any], context: Context) -> str:
    """The tool's text result. Raises what `context.ask_authorization` raises, and validation errors."""
    final = await _graph.ainvoke({"name": name, "args": args}, context=context)
    return final["result"]

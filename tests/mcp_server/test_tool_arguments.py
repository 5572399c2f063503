"""The MCP path awaits each tool's coroutine with `arguments()` instead of going through LangChain's `ainvoke`
(`agent/mcp_server/tools.py`): the function must receive exactly what `ainvoke` would give it, and bad
arguments must fail the same way. Checked against LangChain itself, tool by tool, so an upgrade that changes
its argument handling shows here."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agent.mcp_server.tools import TOOLS, arguments

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("list_calendar_events", {"start": "2026-11-25"}),
    ("check_availability", {"start": "2026-11-25T09:00:00+00:00", "end": "2026-11-25T17:00:00+00:00"}),
    ("create_calendar_event", {"summary": "Sync", "start": "2026-11-25T10:00:00+00:00",
                               "end": "2026-11-25T10:30:00+00:00"}),
    ("list_github_repositories", {}),
    ("list_github_issues", {"repo": "octo/demo"}),
    ("list_github_issues", {"repo": "octo/demo", "state": "closed", "unknown": 1}),
    ("create_github_issue", {"repo": "demo", "title": "Bug", "body": "It broke."}),
]
BAD: list[tuple[str, dict[str, Any]]] = [
    ("list_calendar_events", {}),  # start is required
    ("list_github_issues", {"repo": 5}),
    ("create_github_issue", {"repo": "octo/demo"}),  # no title
]


async def _langchain_kwargs(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    """What LangChain's `ainvoke` passes to the tool's coroutine for this tool call."""
    seen: dict[str, Any] = {}

    async def record(**kwargs: Any) -> str:
        seen.update(kwargs)
        return "ok"

    probe = TOOLS[name].model_copy(update={"coroutine": record})
    await probe.ainvoke({"type": "tool_call", "name": name, "args": dict(args), "id": call_id})
    return seen


@pytest.mark.parametrize(("name", "args"), CALLS)
async def test_arguments_match_langchain(name: str, args: dict[str, Any]) -> None:
    assert arguments(TOOLS[name], dict(args), "mcp-1") == await _langchain_kwargs(name, args, "mcp-1")


@pytest.mark.parametrize(("name", "args"), BAD)
async def test_bad_arguments_fail_as_in_langchain(name: str, args: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as ours:
        arguments(TOOLS[name], dict(args), "mcp-1")
    with pytest.raises(ValidationError) as theirs:
        await _langchain_kwargs(name, args, "mcp-1")
    assert [e["loc"] for e in ours.value.errors()] == [e["loc"] for e in theirs.value.errors()]

"""`langchain-mcp-adapters` loads the MCP server's tools into a LangGraph agent: the MCP server protects
them (bearer token, Token Vault, URL elicitation); the agent only ever sees their results."""

from __future__ import annotations

import logging

import pytest
from langchain_mcp_adapters.tools import load_mcp_tools
from langgraph.prebuilt import create_react_agent
from mcp_helpers import mcp_client

from agent.model import make_model
from auth.settings import Settings

SECRET_MARKERS = ("eyJ", "ya29.", "gho_")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # create_react_agent: `langchain` is not a dependency
async def test_langgraph_agent_uses_the_mcp_tools(mcp_server, control, user, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    control.seed_tokenset(user["user_id"], "google-oauth2", ["https://www.googleapis.com/auth/calendar.readonly"])
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in sandbox.env.items()})
    async with mcp_client(mcp_server, control, user["user_id"]) as client:
        tools = await load_mcp_tools(client.session)
        assert {"list_calendar_events", "list_github_issues"} <= {t.name for t in tools}
        agent = create_react_agent(make_model(settings), tools)
        final = await agent.ainvoke({"messages": [("user", "What's on my calendar tomorrow?")]})
    tool_results = [m for m in final["messages"] if m.type == "tool"]
    assert tool_results and "Team standup" in str(tool_results[0].content)
    answer = str(final["messages"][-1].content)
    assert "Team standup" in answer and "Design review with Priya" in answer
    # Nothing the agent saw, and nothing our server logged, holds a token.
    seen = repr(final["messages"]) + "\n".join(
        r.getMessage() for r in caplog.records if r.name.split(".")[0] in ("agent", "auth", "tools", "uvicorn")
        or r.name.startswith("mcp.server"))
    for marker in SECRET_MARKERS:
        assert marker not in seen

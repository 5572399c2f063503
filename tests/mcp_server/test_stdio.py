"""`vault-agent mcp --stdio`: the same tools for a local MCP client that spawns the server, acting as the
CLI's logged-in user; URL elicitation works the same (the link pages are served on a loopback port)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters, types
from mcp.shared.exceptions import MCPError, UrlElicitationRequiredError
from mcp_helpers import Browser

TOMORROW = (date.today() + timedelta(days=1)).isoformat()


@pytest.mark.slow
async def test_stdio_elicit_authorize_notify_retry(sandbox, control, user, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH0_", "OPENAI_", "SANDBOX_"))}
    env.update(sandbox.env)
    env.update({"SANDBOX_USER_EMAIL": user["email"], "VAULT_AGENT_CONFIG_DIR": str(tmp_path / "config"),
                "VAULT_AGENT_STATE_DIR": str(tmp_path / "state"), "VAULT_AGENT_TIMEZONE": "UTC",
                "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    server = StdioServerParameters(command=str(Path(sys.executable).parent / "vault-agent"),
                                   args=["mcp", "--stdio", "--port", str(port)], env=env, cwd=str(tmp_path))
    completed: asyncio.Queue[str] = asyncio.Queue()

    async def on_message(message) -> None:
        if isinstance(message, types.ElicitCompleteNotification):
            completed.put_nowait(message.params.elicitation_id)

    async def on_elicitation(context, params) -> types.ElicitResult:
        return types.ElicitResult(action="decline")  # declares URL elicitation; the server uses -32042

    async with Client(server, mode="legacy", message_handler=on_message, elicitation_callback=on_elicitation) as session:
        with pytest.raises(MCPError) as caught:
            await session.call_tool("list_calendar_events", {"start": TOMORROW})
        [ask] = UrlElicitationRequiredError.from_error(caught.value.error).elicitations
        assert ask.url.startswith(f"http://127.0.0.1:{port}/link/")
        page = await Browser(control, sandbox.env["AUTH0_DOMAIN"], user["user_id"]).open(ask.url)
        assert page.status_code == 200
        assert await asyncio.wait_for(completed.get(), 30) == ask.elicitation_id
        result = await session.call_tool("list_calendar_events", {"start": TOMORROW})
        assert not result.is_error and "Team standup" in result.content[0].text

"""What this package's conftest and tests share."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# The helpers of the server and MCP tests: a browser opening a link page, the official MCP client.
for folder in ("server", "mcp_server"):
    if str(TESTS / folder) not in sys.path:
        sys.path.insert(0, str(TESTS / folder))

ASK = "What's on my calendar tomorrow?"
TTL = 20.0  # every surface's link lives this long here, so the "expired" row does not wait ten minutes
APP_URL = "http://app.example/chat"  # the LangGraph server here knows its front end (VAULT_AGENT_APP_URL)

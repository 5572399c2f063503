"""The official MCP client of the 1.x line (`mcp` 1.30) and `langchain-mcp-adapters` 0.3.2 against `vault-agent
mcp`, run inside tests/mcp_server/.venv-mcp1 (both require mcp < 2, the project pins the 2.x line).

Reads one JSON job on stdin — `{"scenario", "mcp", "auth0", "control", "user_id"}` — and prints one JSON
line with what it saw. The user's clicks at the tenant go through the sandbox's control API, as in the
2.x tests. Scenarios: `link` (DCR, -32042, the link page, the completion notification, the retry),
`fallback` (no URL elicitation declared: the link in the tool's text), `adapters` (the tools loaded into
LangChain by langchain-mcp-adapters, one called).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date, timedelta
from importlib.metadata import version
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from mcp import ClientSession, types
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp.shared.exceptions import McpError, UrlElicitationRequiredError

TOMORROW = (date.today() + timedelta(days=1)).isoformat()


class Storage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


async def click(job: dict[str, Any], url: str) -> str:
    """The user at the tenant (login, Allow): where the tenant redirects the browser next."""
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(job["control"] + "/control/authorize",
                                 json={"url": url, "user_id": job["user_id"], "action": "approve"})
        answer.raise_for_status()
        return answer.json()["redirect_url"]


async def browse(job: dict[str, Any], url: str) -> int:
    """The user's browser from the link page to the last page; its status."""
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(10):
            if url.startswith(job["auth0"]):
                url = await click(job, url)
                continue
            response = await http.get(url)
            if response.status_code not in (301, 302, 303, 307):
                return response.status_code
            url = response.headers["location"]
    raise RuntimeError("too many redirects")


async def run(job: dict[str, Any]) -> dict[str, Any]:
    code: dict[str, str] = {}
    completed: asyncio.Queue[str] = asyncio.Queue()
    seen: dict[str, Any] = {"mcp_version": version("mcp")}

    async def redirect_handler(authorization_url: str) -> None:
        seen["authorize_url"] = authorization_url
        code.update(dict(parse_qsl(urlsplit(await click(job, authorization_url)).query)))

    async def callback_handler() -> tuple[str, str | None]:
        return code["code"], code.get("state")

    async def on_message(message: Any) -> None:
        root = getattr(message, "root", None)
        if isinstance(root, types.ElicitCompleteNotification):
            completed.put_nowait(root.params.elicitationId)

    async def on_elicitation(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="decline")  # declares URL elicitation; the server answers -32042

    storage = Storage()
    auth = OAuthClientProvider(
        job["mcp"], OAuthClientMetadata(client_name="mcp 1.x client", redirect_uris=["http://127.0.0.1:9/callback"],
                                        token_endpoint_auth_method="none",
                                        grant_types=["authorization_code", "refresh_token"]),
        storage, redirect_handler=redirect_handler, callback_handler=callback_handler)
    scenario = job["scenario"]
    async with httpx.AsyncClient(auth=auth, timeout=60) as http, \
            streamable_http_client(job["mcp"], http_client=http) as (read, write, _):
        async with ClientSession(read, write, message_handler=on_message,
                                 elicitation_callback=None if scenario == "fallback" else on_elicitation) as session:
            init = await session.initialize()
            seen["protocol_version"] = init.protocolVersion
            seen["registered_client_id"] = storage.client.client_id if storage.client else None
            if scenario == "adapters":
                from langchain_mcp_adapters.tools import load_mcp_tools

                tools = {t.name: t for t in await load_mcp_tools(session)}
                seen["tools"] = sorted(tools)
                seen["text"] = str(await tools["list_calendar_events"].ainvoke({"start": TOMORROW}))
                return seen
            if scenario == "link":
                try:
                    await session.call_tool("list_calendar_events", {"start": TOMORROW})
                    raise RuntimeError("expected -32042")
                except McpError as exc:
                    seen["error_code"] = exc.error.code
                    [ask] = UrlElicitationRequiredError.from_error(exc.error).elicitations
                seen["url"] = ask.url
                seen["page_status"] = await browse(job, ask.url)
                seen["completed"] = await asyncio.wait_for(completed.get(), 30) == ask.elicitationId
            else:
                first = await session.call_tool("list_calendar_events", {"start": TOMORROW})
                seen["fallback_text"] = first.content[0].text
                link = first.content[0].text.split("Open ", 1)[1].split()[0]
                seen["page_status"] = await browse(job, link)
            result = await session.call_tool("list_calendar_events", {"start": TOMORROW})
            seen["is_error"], seen["text"] = result.isError, result.content[0].text
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.stdin.read())))))

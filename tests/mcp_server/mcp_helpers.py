"""An official MCP client logged in the way a spec-following client does it (RFC 9728 metadata → RFC 8414
metadata → Dynamic Client Registration → authorization code + PKCE with `resource`), and the user's
browser; the sandbox's control API stands in for the user's clicks at the tenant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from mcp import ClientSession, types
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken


class MemoryStorage:
    """Token storage of one MCP client (memory only)."""

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


class Browser:
    """The user's browser: follows redirects through the MCP server's pages and lets the sandbox's
    control API play the tenant's login and consent pages for `user_id`."""

    def __init__(self, control, auth0_url: str, user_id: str, action: str = "approve") -> None:
        self.control, self.auth0_url, self.user_id, self.action = control, auth0_url, user_id, action
        self.pages: list[httpx.Response] = []

    async def open(self, url: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as http:
            for _ in range(10):
                if url.startswith(self.auth0_url):
                    url = await asyncio.to_thread(self.control.authorize, url, self.user_id, self.action)
                    continue
                response = await http.get(url)
                self.pages.append(response)
                if response.status_code not in (301, 302, 303, 307):
                    return response
                url = response.headers["location"]
        raise AssertionError("too many redirects")


@dataclass
class Connected:
    session: ClientSession
    completed: asyncio.Queue[str]  # ids of `notifications/elicitation/complete` received
    session_id: Callable[[], str | None]
    storage: MemoryStorage


@asynccontextmanager
async def mcp_client(server: dict[str, str], control, user_id: str, *, messages: list | None = None,
                     client_id: str | None = None, url_elicitation: bool = True) -> AsyncIterator[Connected]:
    """A `ClientSession` logged in as `user_id`, with Dynamic Client Registration unless `client_id`
    (a pre-registered public client) is given; every server message also goes to `messages`.
    `url_elicitation=False` is a client that does not declare URL elicitation."""
    completed: asyncio.Queue[str] = asyncio.Queue()
    code: dict[str, str] = {}
    storage = MemoryStorage()
    redirect_uri = "http://127.0.0.1:9/callback"
    if client_id:
        storage.client = OAuthClientInformationFull(client_id=client_id, redirect_uris=[redirect_uri],
                                                    token_endpoint_auth_method="none")

    async def redirect_handler(authorization_url: str) -> None:  # the user logs in to the MCP client
        target = await asyncio.to_thread(control.authorize, authorization_url, user_id)
        code.update(dict(parse_qsl(urlsplit(target).query)))
        assert "code" in code, target

    async def callback_handler() -> tuple[str, str | None]:
        return code["code"], code.get("state")

    auth = OAuthClientProvider(
        server["mcp"], OAuthClientMetadata(client_name="vault-agent tests", redirect_uris=[redirect_uri],
                                           token_endpoint_auth_method="none",
                                           grant_types=["authorization_code", "refresh_token"]),
        storage, redirect_handler=redirect_handler, callback_handler=callback_handler)

    async def on_message(message: Any) -> None:
        if messages is not None:
            messages.append(message)
        root = getattr(message, "root", None)
        if isinstance(root, types.ElicitCompleteNotification):
            completed.put_nowait(root.params.elicitationId)

    async def on_elicitation(context: Any, params: Any) -> types.ElicitResult:
        """Declares URL elicitation support; the server asks by error -32042, so this only serves a
        server that would send `elicitation/create` instead."""
        if getattr(params, "mode", None) == "url":
            await Browser(control, server["auth0"], user_id).open(params.url)
            return types.ElicitResult(action="accept")
        return types.ElicitResult(action="decline")

    async with httpx.AsyncClient(auth=auth, timeout=30) as http, \
            streamable_http_client(server["mcp"], http_client=http) as (read, write, session_id):
        async with ClientSession(read, write, message_handler=on_message,
                                 elicitation_callback=on_elicitation if url_elicitation else None) as session:
            await session.initialize()
            yield Connected(session, completed, session_id, storage)

"""The official MCP client (`mcp` 2.x) logged in the way a spec-following client does it (RFC 9728 metadata →
RFC 8414 metadata → client ID metadata document or Dynamic Client Registration → authorization code + PKCE
with `resource`), on either protocol version, and the user's browser; the sandbox's control API stands in
for the user's clicks at the tenant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import httpx2
from mcp import Client, types
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

LEGACY = "2025-11-25"
STATELESS = "2026-07-28"
VERSIONS = (LEGACY, STATELESS)
REDIRECT_URI = "http://127.0.0.1:9/callback"


class MemoryStorage:
    """Token storage of one MCP client (memory only); shared by two clients it is one user's client
    reconnecting."""

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
    client: Client
    storage: MemoryStorage
    completed: asyncio.Queue[str]  # ids of `notifications/elicitation/complete` received (2025-11-25)
    asked: list[types.ElicitRequestURLParams] = field(default_factory=list)  # URL requests the client saw
    authorize_urls: list[str] = field(default_factory=list)  # where the client sent the user to log in
    session_ids: set[str] = field(default_factory=set)  # Mcp-Session-Id headers the server answered with

    @property
    def session(self):
        return self.client.session


def oauth(server: dict[str, str], control, user_id: str, storage: MemoryStorage, *,
          client_metadata_url: str | None = None, authorize_urls: list[str] | None = None) -> OAuthClientProvider:
    """The SDK's OAuth provider, the user logging in at the tenant through the control API."""
    code: dict[str, str] = {}

    async def redirect_handler(authorization_url: str) -> None:
        if authorize_urls is not None:
            authorize_urls.append(authorization_url)
        target = await asyncio.to_thread(control.authorize, authorization_url, user_id)
        code.update(dict(parse_qsl(urlsplit(target).query)))
        assert "code" in code, target

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=code["code"], state=code.get("state"))

    metadata = OAuthClientMetadata(client_name="vault-agent tests", redirect_uris=[REDIRECT_URI],
                                   token_endpoint_auth_method="none",
                                   grant_types=["authorization_code", "refresh_token"])
    return OAuthClientProvider(server["mcp"], metadata, storage, redirect_handler=redirect_handler,
                               callback_handler=callback_handler, client_metadata_url=client_metadata_url)


@asynccontextmanager
async def mcp_client(server: dict[str, str], control, user_id: str, *, version: str = LEGACY,
                     messages: list | None = None, client_id: str | None = None,
                     client_metadata_url: str | None = None, url_elicitation: bool = True,
                     storage: MemoryStorage | None = None, browser_action: str = "approve",
                     max_rounds: int = 10) -> AsyncIterator[Connected]:
    """An official `Client` logged in as `user_id` speaking `version` (2025-11-25: initialize and a session;
    2026-07-28: stateless; "auto": the client's default, `server/discover` first). Registration is CIMD with
    `client_metadata_url`, none with `client_id` (a pre-registered public client), else DCR. Every server
    notification also goes to `messages`.
    On 2026-07-28 a URL request is answered by opening it in the user's browser (`browser_action` at the
    tenant), then accepting, as a client does once the user came back. `url_elicitation=False` is a client
    that declares no elicitation at all."""
    storage = storage or MemoryStorage()
    if client_id:
        storage.client = OAuthClientInformationFull(client_id=client_id, redirect_uris=[REDIRECT_URI],
                                                    token_endpoint_auth_method="none")
    connected = Connected(None, storage, asyncio.Queue())  # type: ignore[arg-type]
    auth = oauth(server, control, user_id, storage, client_metadata_url=client_metadata_url,
                 authorize_urls=connected.authorize_urls)

    async def on_message(message: Any) -> None:
        if messages is not None:
            messages.append(message)
        if isinstance(message, types.ElicitCompleteNotification):
            connected.completed.put_nowait(message.params.elicitation_id)

    async def on_elicitation(context: Any, params: Any) -> types.ElicitResult:
        if getattr(params, "mode", None) != "url":
            return types.ElicitResult(action="decline")
        connected.asked.append(params)
        if browser_action == "cancel":  # the user closed the client's prompt without opening the link
            return types.ElicitResult(action="cancel")
        await Browser(control, server["auth0"], user_id, action=browser_action).open(params.url)
        return types.ElicitResult(action="accept")

    async def on_response(response: httpx2.Response) -> None:
        if sid := response.headers.get("mcp-session-id"):
            connected.session_ids.add(sid)

    async with httpx2.AsyncClient(auth=auth, timeout=60, event_hooks={"response": [on_response]}) as http:
        client = Client(streamable_http_client(server["mcp"], http_client=http),
                        mode={LEGACY: "legacy"}.get(version, version), message_handler=on_message,
                        elicitation_callback=on_elicitation if url_elicitation else None,
                        input_required_max_rounds=max_rounds, cache=None)
        async with client:
            assert version == "auto" or client.protocol_version == version
            connected.client = client
            yield connected

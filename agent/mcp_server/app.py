"""Assembles the MCP server: the SDK's `MCPServer` (streamable HTTP for protocol 2025-11-25 with sessions and
2026-07-28 without, negotiated per client by the SDK; bearer-token middleware; RFC 9728 metadata), our
tools, the elicitation pages, and the scope hints.

`list_tools`/`call_tool` are overridden instead of registering Python functions, because the tools
already exist as LangChain tools with JSON schemas: the MCP schema is theirs, and the call goes through
`tools.run_tool` with the request's user. What a call that needs a link answers depends on the client's
protocol version and capabilities (`rounds.py`).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
from typing import Any

import anyio
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.routes import create_protected_resource_routes
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.request_state import RequestStateSecurity
from mcp.shared.exceptions import UrlElicitationRequiredError
from mcp.types import CallToolResult, InputRequiredResult, TextContent, Tool
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth.credentials import UserCredentials
from auth.oidc import OIDCProvider
from auth.settings import Settings
from tools.context import Context as RunContext
from tools.services import Services

from . import rounds
from .elicitation import TTL_SECONDS, Elicitations
from .resource import Auth0TokenVerifier
from .tools import TOOLS, input_schema, run_tool

log = logging.getLogger(__name__)
MCP_PATH = "/mcp"
# What a client should ask the tenant for when it logs in for this server (scope hints: `scope=` in the
# 401's WWW-Authenticate and `scopes_supported` in the resource metadata). The server needs only who the
# user is; offline_access lets the client refresh instead of sending the user through the login again.
SCOPES = ("openid", "offline_access")


class VaultMCP(MCPServer):
    """MCPServer serving the vault-agent tools for the user of each request."""

    def __init__(self, settings: Settings, base_url: str, *, timezone: str = "UTC",
                 services: Services | None = None, host: str = "127.0.0.1", port: int = 8770,
                 link_ttl_seconds: float = TTL_SECONDS, user: UserCredentials | None = None,
                 state_key: bytes | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.user = user  # stdio: the one local user (MCP's stdio transport carries no token)
        self.resource_url = self.base_url + MCP_PATH
        self.services = services or Services.create(settings)
        self.timezone = timezone
        self.host, self.port = host, port
        self.issuer = settings.auth0_issuer
        oidc = OIDCProvider(settings, self.services.http)
        # requestState (2026-07-28) lives as long as a link and opens on any process with the same key.
        security = (RequestStateSecurity(keys=[state_key], ttl=max(link_ttl_seconds, 1.0), audience=self.resource_url)
                    if state_key is not None else None)
        super().__init__(
            "vault-agent", instructions="Google Calendar and GitHub for the signed-in user. A call may ask "
            "the user to authorize a provider first (a link to open); it carries on once they have.",
            token_verifier=Auth0TokenVerifier(oidc, audience=self.resource_url),
            auth=AuthSettings(issuer_url=settings.auth0_issuer, resource_server_url=self.resource_url,
                              validate_token_resource=False),  # the verifier checks the audience
            log_level="WARNING", request_state_security=security)
        _quiet_client_left()
        self.elicitations = Elicitations(self.services, self.base_url, oidc, link_ttl_seconds)
        self.custom_route("/link/{elicitation_id}", ["GET"])(self.elicitations.open_link)
        self.custom_route("/auth/callback", ["GET"])(self.elicitations.callback)

    async def list_tools(self) -> list[Tool]:
        return [Tool(name=t.name, description=t.description, input_schema=input_schema(t)) for t in TOOLS.values()]

    async def call_tool(self, name: str, arguments: dict[str, Any],  # type: ignore[override]
                        context: Context | None = None) -> CallToolResult | InputRequiredResult:
        tool = TOOLS.get(name)
        if tool is None:
            return _error(f"Unknown tool: {name}")
        if context is None:
            return _error("No request context for this call.")
        user = self.user or _request_user(context)
        if user is None:
            return _error("No authenticated user for this call.")
        stateless = rounds.is_stateless(context)
        pending = context.request_state if stateless else None  # already unsealed and checked by the SDK
        if pending:
            record = await rounds.pending_record(self.elicitations.store, pending, user.sub)
            if record is not None and rounds.client_declined(context):
                return _error("The user did not open the authorization link, so the call was not made.")
            await rounds.wait_until_answered(self.elicitations.store, pending, user.sub)
        session = None if stateless else context.session  # 2026-07-28 has no session to notify
        run_context = RunContext(user=user, timezone=self.timezone, services=self.services,
                                 ask_authorization=functools.partial(self.elicitations.ask, user.sub, session))
        try:
            text = await run_tool(name, arguments or {}, run_context)
        except UrlElicitationRequiredError as exc:
            [ask] = exc.elicitations
            if not rounds.supports_url_elicitation(context):
                return rounds.link_in_text(ask)  # a client without URL elicitation still gets the link
            if not stateless:
                raise  # -32042 (2025-11-25)
            if pending == ask.elicitation_id:
                return rounds.still_waiting(pending)
            return rounds.input_required(ask, ask.elicitation_id or "")
        except ValidationError as exc:
            return _error(f"Invalid arguments for {name}: " + "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
        except Exception as exc:  # one clear line, never a traceback, never a token
            log.warning("tool %s failed: %s", name, type(exc).__name__)
            return _error(f"{name} failed ({type(exc).__name__}).")
        # The tools answer failures with a sentence for a model; these openings are theirs.
        return CallToolResult(content=[TextContent(type="text", text=text)],
                              is_error=text.startswith(("Error", "Authorization")))

    def app(self) -> Starlette:
        app = self.streamable_http_app(streamable_http_path=MCP_PATH, host=self.host)
        # The resource metadata with `scopes_supported`, ahead of the SDK's own (which has none).
        app.router.routes[0:0] = create_protected_resource_routes(
            resource_url=self.resource_url, authorization_servers=[self.issuer], scopes_supported=list(SCOPES),
            resource_name="vault-agent")
        app.add_middleware(ScopeHint, scope=" ".join(SCOPES))
        return app


class ScopeHint:
    """Adds `scope="…"` to the WWW-Authenticate of the SDK's 401 (MCP 2025-11-25 asks for it: the client
    then requests exactly those scopes)."""

    def __init__(self, app: ASGIApp, scope: str) -> None:
        self.app, self.scope = app, scope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_hint(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                headers = MutableHeaders(scope=message)
                challenge = headers.get("www-authenticate", "")
                if challenge.startswith("Bearer") and "scope=" not in challenge:
                    headers["www-authenticate"] = f'{challenge}, scope="{self.scope}"'
            await send(message)

        await self.app(scope, receive, send_with_hint)


class _ClientLeftFilter(logging.Filter):
    """The SDK logs a traceback when a client's SSE stream closes as its session ends (a client that
    disconnects, a server that stops): that is no error, so it is not logged at all."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, anyio.ClosedResourceError)


def _quiet_client_left() -> None:
    logger = logging.getLogger("mcp.server.streamable_http")
    if not any(isinstance(f, _ClientLeftFilter) for f in logger.filters):
        logger.addFilter(_ClientLeftFilter())


def _request_user(context: Context) -> UserCredentials | None:
    """The user whose bearer token the middleware accepted; the token stays in this request's scope."""
    token = get_access_token()
    if token is None:
        request = context.request_context.request
        principal = request.scope.get("user") if request is not None else None
        token = principal.access_token if isinstance(principal, AuthenticatedUser) else None
    if token is None or not token.subject:
        return None
    return UserCredentials(token.subject, access_token=token.token)


def freeze_startup_heap() -> None:
    """Once start-up is done, move what it left (modules, LangGraph's and pydantic's schemas, the Google client
    libraries: a few hundred thousand objects that live as long as the process) out of the garbage collector's
    reach. Otherwise every full collection, which the objects a tool call leaves behind trigger now and then,
    walks all of them again: about half of the collector's time per call in `bench/mcp_call.py`."""
    gc.collect()
    gc.freeze()


def _error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


async def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8770, *, public_url: str | None = None,
                timezone: str = "UTC", sockets: list[Any] | None = None) -> None:
    """Serve until cancelled. `public_url` is how clients reach it (behind a proxy), else http://host:port.
    The pending links live in the store of `VAULT_AGENT_DB_URL` (as the CLI's), so they survive a restart
    and several processes on one database share them. No access log: callback URLs carry authorization
    codes."""
    import uvicorn

    from agent.persistence import open_persistence

    async with open_persistence(settings) as persistence:
        services = Services.create(settings, persistence.store)
        server = VaultMCP(settings, public_url or f"http://{host}:{port}", host=host, port=port,
                          timezone=timezone, services=services,
                          state_key=await rounds.request_state_key(persistence.store))
        config = uvicorn.Config(server.app(), host=host, port=port, log_level="warning", access_log=False)
        freeze_startup_heap()
        try:
            await uvicorn.Server(config).serve(sockets=sockets)
        finally:
            await services.aclose()


async def serve_stdio(settings: Settings, user: UserCredentials, host: str = "127.0.0.1", port: int = 8770, *,
                      timezone: str = "UTC") -> None:
    """MCP over stdin/stdout for `user` (the CLI's session); the link pages and the callback still need a
    loopback HTTP port, served alongside until stdin closes."""
    import uvicorn
    from starlette.routing import Route

    from agent.persistence import open_persistence

    async with open_persistence(settings) as persistence:
        services = Services.create(settings, persistence.store)
        server = VaultMCP(settings, f"http://{host}:{port}", host=host, port=port, timezone=timezone, user=user,
                          services=services, state_key=await rounds.request_state_key(persistence.store))
        pages = Starlette(routes=[Route("/link/{elicitation_id}", server.elicitations.open_link),
                                  Route("/auth/callback", server.elicitations.callback)])
        web = uvicorn.Server(uvicorn.Config(pages, host=host, port=port, log_level="warning", access_log=False,
                                            lifespan="off"))
        web_task = asyncio.create_task(web.serve())
        freeze_startup_heap()
        try:
            await server.run_stdio_async()
        finally:
            web.should_exit = True
            await web_task
            await services.aclose()

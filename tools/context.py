"""Runtime context of a run: who the user is and the clients to act for them.

LangGraph passes it to nodes and tools at run time and never checkpoints it — which is why the user's
Auth0 token lives here and not in state. The CLI and notebooks pass a full `Context`; on the LangGraph
server the user comes from the request's authentication instead (a client cannot smuggle credentials in
through the JSON context: only a real `UserCredentials` object is trusted).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from langgraph.config import get_config
from langgraph.runtime import get_runtime

from auth.credentials import UserCredentials
from auth.errors import SessionExpired

from .services import Services, default_services


@dataclass
class Context:
    user: UserCredentials | None = None
    timezone: str = "UTC"
    services: Services = field(default_factory=default_services, repr=False)
    # A surface without LangGraph interrupts (the MCP server) asks for authorization its own way:
    # `await ask_authorization(tool, connection, step_up)` answers like `interrupt()` would, or raises.
    ask_authorization: Callable[..., Awaitable[Any]] | None = field(default=None, repr=False)


def current_context() -> Context:
    """The context of the running node or tool, with the user resolved."""
    runtime = get_runtime()
    given: Any = runtime.context
    if isinstance(given, Context) and isinstance(given.user, UserCredentials):
        return given
    timezone = getattr(given, "timezone", None) or (given.get("timezone") if isinstance(given, dict) else None)
    services = given.services if isinstance(given, Context) else default_services()
    return Context(user=_server_user(runtime), timezone=timezone or "UTC", services=services)


def _server_user(runtime: Any) -> UserCredentials:
    from auth.server_auth import credentials_for

    user = runtime.server_info.user if runtime.server_info else None
    if user is None:
        user = get_config().get("configurable", {}).get("langgraph_auth_user")
    identity = getattr(user, "identity", None) if user is not None else None
    creds = credentials_for(identity) if identity else None
    if creds is None:
        raise SessionExpired("No live credentials for this run's user: call again with a valid access token.")
    return creds

"""Runtime context of a run: who the user is and the clients to act for them.

LangGraph passes it to nodes and tools at run time and never checkpoints it — which is why the user's
Auth0 token lives here and not in state. The CLI and notebooks pass a full `Context`; on the LangGraph
server the user comes from the run's authenticated user instead: its sealed credential envelope
(`auth/envelope.py`) is opened here, in whichever process runs the graph, and refused unless it was
sealed for that very user and has not expired. A client cannot smuggle credentials in through the JSON
context (only a real `UserCredentials` object is trusted), and unknown context or `configurable` keys
are ignored rather than crashing the run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from langgraph.config import get_config
from langgraph.runtime import get_runtime

from auth.credentials import UserCredentials
from auth.errors import AuthError, SessionExpired

from .services import Services, default_services
from .zones import resolve_zone

log = logging.getLogger(__name__)


@dataclass(init=False)
class Context:
    user: UserCredentials | None = None
    # The user's IANA zone; left out, `VAULT_AGENT_TIMEZONE` of the process that runs the graph, else UTC.
    timezone: str = ""
    services: Services = field(default=None, repr=False)  # type: ignore[assignment]
    # A surface without LangGraph interrupts (the MCP server) asks for authorization its own way:
    # `await ask_authorization(tool, connection, step_up)` answers like `interrupt()` would, or raises.
    ask_authorization: Callable[..., Awaitable[Any]] | None = field(default=None, repr=False)
    # Server only: the run's sealed credential envelope, which a pending link request keeps so the
    # callback can resume as the user; and that the link page signs the user in when it is opened.
    envelope: str = field(default="", repr=False)
    sign_in_at_click: bool = False
    timezone_note: str | None = field(default=None, repr=False)

    def __init__(self, user: UserCredentials | None = None, timezone: str = "",
                 services: Services | None = None, ask_authorization: Callable[..., Awaitable[Any]] | None = None,
                 **ignored: Any) -> None:  # noqa: ARG002 - dropped on purpose, see below
        """Unknown keys (a client's `configurable`/`context` becomes this dict on the server) are dropped,
        and so is anything a JSON value could smuggle in where an object is expected."""
        self.user = user if isinstance(user, UserCredentials) else None
        self.services = services if isinstance(services, Services) else default_services()
        asked = timezone if isinstance(timezone, str) and timezone else self.services.settings.vault_agent_timezone
        self.timezone = asked if _valid_zone(asked) else "UTC"
        # Said along with the tools' answers when the zone asked for was not a real one (tools/zones.py).
        self.timezone_note = None if self.timezone == asked or not asked else resolve_zone(str(asked))[1]
        self.ask_authorization = ask_authorization if callable(ask_authorization) else None
        self.envelope = ""
        self.sign_in_at_click = False


def _valid_zone(name: Any) -> bool:
    """A real IANA name, by the one check the tools use too (`tools/zones.py`)."""
    return isinstance(name, str) and bool(name) and resolve_zone(name)[1] is None


def current_context(*, require_user: bool = False) -> Context:
    """The context of the running node or tool, with the user resolved when the run's credentials are usable.

    Only what acts for the user asks for `require_user=True` (raises the AuthError that says why); the
    model node and the tools' time zone and clients work without, so the model can still explain."""
    runtime = get_runtime()
    given: Any = runtime.context
    if isinstance(given, Context) and given.user is not None:
        return given
    if isinstance(given, Context):  # its zone already fell back to VAULT_AGENT_TIMEZONE when none was given
        context = Context(timezone=given.timezone, services=given.services)
        context.timezone_note = given.timezone_note
    else:
        asked = given.get("timezone") if isinstance(given, dict) else getattr(given, "timezone", None)
        context = Context(timezone=asked if isinstance(asked, str) else "")
    try:
        context.user, context.envelope = _server_user(runtime, context.services)
        context.sign_in_at_click = True  # a bearer-only client: the link page mints what linking needs
    except AuthError:
        if require_user:
            raise
    return context


def _server_user(runtime: Any, services: Services) -> tuple[UserCredentials, str]:
    """The run's user from its sealed envelope, and the envelope (a link request keeps it to resume as them)."""
    from auth.run_credentials import ENVELOPE_FIELD, sealer

    user = runtime.server_info.user if runtime.server_info else None
    if user is None:
        user = get_config().get("configurable", {}).get("langgraph_auth_user")
    identity = _field(user, "identity")
    sealed = _field(user, ENVELOPE_FIELD)
    if not identity or not sealed:
        raise SessionExpired("This run has no authenticated user with credentials: call the server with "
                             "Authorization: Bearer <access token>.")
    envelope = sealer(services.settings).open(sealed, identity)
    return envelope.credentials(), sealed


def _field(user: Any, name: str) -> str:
    if user is None:
        return ""
    try:
        value = user[name]
    except (KeyError, TypeError, AttributeError, NotImplementedError):
        value = getattr(user, name, "")
    return value if isinstance(value, str) else ""

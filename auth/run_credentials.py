"""The credentials a LangGraph server run carries: the sealed envelope inside the run's auth user.

`auth/server_auth.py` seals it when a request is authenticated; the tools open it in whichever process
runs the graph (`tools/context.py`); the link routes re-seal it with tokens minted at click time. This is
the one module all three share, so the tools never import the server's auth module.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .credentials import UserCredentials
from .envelope import Envelope, EnvelopeError, EnvelopeSealer
from .errors import Misconfigured
from .settings import Settings, get_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from .linking import PendingLink

ENVELOPE_FIELD = "credential_envelope"
PERMISSIONS = ["authenticated"]

_sealer: tuple[str, EnvelopeSealer] | None = None


def sealer(settings: Settings | None = None) -> EnvelopeSealer:
    """The envelope sealer for the configured key (raises Misconfigured when there is none)."""
    global _sealer
    key = (settings or get_settings()).vault_agent_encryption_key
    if _sealer is None or _sealer[0] != key:
        _sealer = (key, EnvelopeSealer.from_setting(key))
    return _sealer[1]


def user_dict(sub: str, envelope: str, display_name: str = "") -> dict[str, Any]:
    """The auth user LangGraph keeps with a run: who, and the sealed envelope (never a token)."""
    return {"identity": sub, "display_name": display_name or sub, "permissions": list(PERMISSIONS),
            ENVELOPE_FIELD: envelope}


def keep_my_account_token(settings: Settings, sub: str, token: str, ttl_seconds: float) -> str:
    """A My Account API token minted at click time, sealed to wait with its pending Connected Accounts
    request for the completion (a server without an envelope of its own, the MCP server)."""
    try:
        return sealer(settings).seal(Envelope(sub, "", my_account_token=token, expires_at=time.time() + ttl_seconds))
    except Misconfigured as exc:
        raise Misconfigured("AUTH0_LINK_MODE=connected_accounts keeps the user's My Account token sealed while "
                            f"the link waits: {exc}") from exc


def kept_credentials(settings: Settings | None = None) -> "Callable[[PendingLink], UserCredentials | None]":
    """`credentials_for` of a Connected Accounts completion: what the pending request kept, opened with
    the key of `settings` (the process's settings when None)."""

    def credentials_for(link: "PendingLink") -> UserCredentials | None:
        try:
            return sealer(settings).open(link.envelope, link.user_sub).credentials() if link.envelope else None
        except (EnvelopeError, Misconfigured):
            return None

    return credentials_for
